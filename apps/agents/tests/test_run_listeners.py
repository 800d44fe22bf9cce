"""The run-finished hook: a registered listener hears of a finished run and of a verdict, after commit."""

from __future__ import annotations

import pytest

from apps.agents.clusters import listeners, redteam
from apps.agents.clusters import services as cluster_services
from apps.tenancy.scope import institution_scope

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _redteam_engine():
    yield
    redteam.forget_engine()


def test_a_listener_hears_of_the_finished_run_once_after_commit(
    aurelia, ada, alice, django_capture_on_commit_callbacks
):
    heard = []

    def listener(*, run_id, institution_id, event):
        heard.append((run_id, institution_id, event))

    listeners.register_run_listener(listener)
    listeners.register_run_listener(listener)  # idempotent
    try:
        agent = redteam.make_agent(aurelia, ada, "Approver")
        with institution_scope(aurelia):
            cluster = cluster_services.cluster_create(
                institution=aurelia,
                actor=ada,
                name="Review",
                task_type=redteam.TASK_TYPE,
                stages=redteam.stages_of([agent]),
                allowed_decisions=["approve", "deny"],
                flagging_policy={},
            )
            with django_capture_on_commit_callbacks(execute=True):
                run = cluster_services.cluster_run_start(
                    cluster=cluster, record=redteam.RECORD, documents={}, actor=alice
                )
        assert heard == [(run.pk, aurelia.pk, "finished")]
    finally:
        listeners._LISTENERS.remove(listener)

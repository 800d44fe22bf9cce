"""A five-stage cluster run carried out by a real Celery worker from the broker."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from apps.agents.clusters import redteam, services
from apps.agents.models import AgentProposalRecord, ClusterRun, ClusterRunStatus
from apps.tenancy.scope import institution_scope
from portal.celery import app


@pytest.fixture(autouse=True)
def _redteam_engine():
    yield
    redteam.forget_engine()


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_a_five_stage_cluster(aurelia, ada):
    agents = [redteam.make_agent(aurelia, ada, f"Stage {i}") for i in range(5)]
    with institution_scope(aurelia):
        cluster = services.cluster_create(
            institution=aurelia,
            actor=ada,
            name="Worker",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
        )
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            with institution_scope(aurelia):
                run = services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=ada)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                run.refresh_from_db()
                if run.finished:
                    break
                time.sleep(0.2)
    finally:
        app.conf.task_always_eager = True
    assert run.status == ClusterRunStatus.DECIDED, (run.status, run.error)
    assert run.progress == 5 and run.decision == "approve"
    assert AgentProposalRecord.all_institutions.filter(run=run).count() == 5
    assert ClusterRun.all_institutions.count() == 1

"""Service tasks that wait: an agent cluster's run (resumed by beat's poll) and a council's verdict."""

from __future__ import annotations

import pytest

from apps.bpm import services
from apps.bpm.models import CallStatus, InstanceEvent, InstanceStatus, ServiceCall
from apps.bpm.tests.factories import start, upload
from apps.tenancy.scope import institution_scope

pytestmark = pytest.mark.django_db


def test_a_council_verdict_resumes_the_waiting_step(aurelia, ada, alice, django_capture_on_commit_callbacks):
    from apps.feedback import services as feedback_services
    from apps.feedback.models import ReviewItem
    from apps.feedback.subjects import subject_for

    with institution_scope(aurelia):
        feedback_services.council_create(
            institution=aurelia,
            actor=ada,
            name="Events council",
            mandate_task_types=["permits.event"],
            mandate_impacts=["high"],
            quorum=1,
            majority="simple",
            deadline_hours=24,
            escalation="institution_admin",
        )
    version = upload(aurelia, ada, "council.bpmn")
    with django_capture_on_commit_callbacks(execute=True):
        instance = start(version, alice, {"crowd": 900})
    call = ServiceCall.all_institutions.get(instance=instance)
    assert call.status == CallStatus.WAITING
    item = ReviewItem.all_institutions.get(subject_type="bpm.instance", subject_id=str(call.pk))
    assert item.question == "Allow an event for 900 people?"
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.RUNNING and instance.active_elements == ["ask"]

    item.verdict, item.verdict_decision = "reject", "reject"
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        from django.db import transaction

        with transaction.atomic():
            subject_for("bpm.instance").apply(item=item, actor=None)
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    gateway = InstanceEvent.all_institutions.get(instance=instance, action="bpm.gateway_taken")
    assert gateway.details["to"] == ["end_no"]


def _intake_cluster(aurelia, ada):
    from apps.agents.clusters import services as cluster_services
    from apps.agents.services import agent_register

    with institution_scope(aurelia):
        agent = agent_register(
            institution=aurelia,
            actor=ada,
            name="Intake agent",
            purpose="Intake",
            capabilities=["permits.intake"],
            engine="rules",
        )
        return cluster_services.cluster_create(
            institution=aurelia,
            actor=ada,
            name="Intake",
            task_type="permits.intake",
            stages=[{"name": "intake", "agents": [str(agent.uid)]}],
            allowed_decisions=["approve", "reject"],
        )


def test_an_agent_cluster_run_is_awaited_and_its_decision_resumes_the_step(
    aurelia, ada, alice, django_capture_on_commit_callbacks
):
    from apps.agents.models import ClusterRun

    _intake_cluster(aurelia, ada)
    version = upload(aurelia, ada, "cluster.bpmn")
    instance = start(version, alice, {"crowd": 50})  # the run's own stages are not run here
    call = ServiceCall.all_institutions.get(instance=instance)
    with institution_scope(aurelia):
        services.service_call_run(call=call)
    call.refresh_from_db()
    assert call.status == CallStatus.WAITING
    run = ClusterRun.all_institutions.get(pk=int(call.external_ref))
    assert run.record == {"crowd": 50}
    assert services.service_calls_poll() == 0  # the run has no final decision yet
    ClusterRun.all_institutions.filter(pk=run.pk).update(status="decided", decision="approve", final_decision="approve")
    run.refresh_from_db()
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        from django.db import transaction

        from apps.agents.clusters.listeners import run_changed

        with transaction.atomic():
            run_changed(run=run, event="finished")  # what the clusters service does when a run ends
    assert services.service_calls_poll() == 0  # already resumed by the listener
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert InstanceEvent.all_institutions.get(instance=instance, action="bpm.gateway_taken").details["to"] == [
        "end_yes"
    ]


def test_beat_resumes_a_call_whose_run_listener_was_lost(aurelia, ada, alice):
    from apps.agents.models import ClusterRun

    _intake_cluster(aurelia, ada)
    instance = start(upload(aurelia, ada, "cluster.bpmn"), alice, {"crowd": 5})
    call = ServiceCall.all_institutions.get(instance=instance)
    with institution_scope(aurelia):
        services.service_call_run(call=call)
    call.refresh_from_db()
    ClusterRun.all_institutions.filter(pk=int(call.external_ref)).update(status="failed", error="engine down")
    assert services.service_calls_poll() == 1
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.FAILED and "engine down" in instance.error

"""A five-stage cluster run carried out by a real Celery worker from the broker."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from apps.agents.clusters import redteam, services
from apps.agents.models import AgentProposalRecord, ClusterRun, ClusterRunStatus
from apps.tenancy.scope import institution_scope
from portal.celery import app


def _finished(run) -> bool:
    """Poll the run as a page would. SQLite's shared in-memory test database locks a table
    while the worker thread writes it; a locked read is simply tried again at the next poll."""
    from django.db import OperationalError

    try:
        run.refresh_from_db()
    except OperationalError:
        return False
    return run.finished


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
                if _finished(run):
                    break
                time.sleep(0.2)
    finally:
        app.conf.task_always_eager = True
    run.refresh_from_db()
    assert run.status == ClusterRunStatus.DECIDED, (run.status, run.error)
    assert run.progress == 5 and run.decision == "approve"
    assert AgentProposalRecord.all_institutions.filter(run=run).count() == 5
    assert ClusterRun.all_institutions.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_demo_event_permit_cluster_and_flags_it(aurelia, ada, alice):
    """The issue's "done when": a permit-like task through five real engines on a worker
    (the broker is Redis when REDIS_URL is set, as in CI), signed, validated, weighted, flagged,
    and readable through the API."""
    from apps.agents import services as agent_services
    from apps.agents.clusters import demo
    from apps.agents.models import Agent, AgentStatus
    from portal.testing import api_as

    stages = []
    with institution_scope(aurelia):
        for spec in demo.agent_specs(aurelia.pk):
            agent = agent_services.agent_register(
                institution=aurelia,
                actor=ada,
                name=spec["name"],
                purpose=spec["purpose"],
                capabilities=[demo.TASK_TYPE],
                engine=spec["engine"],
                config=spec["config"],
            )
            stages.append({"name": spec["stage"], "agents": [str(agent.uid)]})
        # fixture shortcut: certification proper is a threshold approval (tested in test_registry)
        Agent.objects.update(status=AgentStatus.CERTIFIED)
        cluster = services.cluster_create(
            institution=aurelia,
            actor=ada,
            name=demo.CLUSTER_NAME,
            task_type=demo.TASK_TYPE,
            stages=stages,
            allowed_decisions=demo.DECISIONS,
            flagging_policy={"high_impact": {"field": "crowd_size", "threshold": 1000}},
        )
    festival = demo.DEMO_RUNS[1]
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            with institution_scope(aurelia):
                run = services.cluster_run_start(cluster=cluster, record=festival, documents={}, actor=alice)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if _finished(run):
                    break
                time.sleep(0.2)
    finally:
        app.conf.task_always_eager = True
    run.refresh_from_db()
    assert run.status == ClusterRunStatus.FLAGGED, (run.status, run.error)
    assert any("High impact" in reason for reason in run.reasons)
    body = api_as(alice).get(f"/api/v1/institutions/{aurelia.slug}/agents/runs/{run.pk}/").json()
    assert body["status"] == "flagged" and body["progress"] == 5
    assert [p["stage_name"] for p in body["proposals"]] == ["intake", "rules", "risk", "precedent", "validator"]
    assert all(p["signature"] and p["accepted"] for p in body["proposals"])
    assert sum(body["weights"].values()) == pytest.approx(1.0)

"""The demo's five-stage event-permit cluster: real engines, signed proposals, a flag, reputation."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.agents.clusters import demo
from apps.agents.models import AgentProposalRecord, AgentStatus, Cluster, ClusterRun, ClusterRunStatus
from apps.agents.models import ReputationSnapshot as Snapshot
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True  # seed_demo only seeds development nodes
    call_command("seed_demo", stdout=StringIO())


def test_the_demo_cluster_runs_five_real_engines(seeded):
    cluster = Cluster.all_institutions.get(name=demo.CLUSTER_NAME)
    assert [s["name"] for s in cluster.stages] == ["intake", "rules", "risk", "precedent", "validator"]
    runs = list(ClusterRun.all_institutions.filter(cluster=cluster).order_by("pk"))
    assert len(runs) == len(demo.DEMO_RUNS)
    picnic, festival, noisy, unpaid = runs
    # every agent of every stage gave a signed proposal that the validator accepted
    records = AgentProposalRecord.all_institutions.filter(run__cluster=cluster)
    assert records.count() == 5 * len(runs)
    assert not records.exclude(refused="").exists(), list(records.exclude(refused="").values("refused", "note"))
    assert all(r.signature and r.accepted for r in records)
    assert {r.agent.status for r in records} == {AgentStatus.CERTIFIED}
    assert (picnic.status, picnic.decision) == (ClusterRunStatus.DECIDED, "approve")
    assert festival.status == ClusterRunStatus.FLAGGED
    assert any("High impact" in reason for reason in festival.reasons)
    assert noisy.decision == "deny"
    assert unpaid.flagged  # the intake agent asks for the fee, the others approve: disagreement
    assert Snapshot.all_institutions.filter(institution=cluster.institution).exists()
    assert AuditEvent.objects.filter(action="agents.cluster_run_decide").count() == len(runs)


def test_seeding_twice_adds_no_run(seeded):
    before = ClusterRun.all_institutions.count()
    call_command("seed_demo", stdout=StringIO())
    assert ClusterRun.all_institutions.count() == before

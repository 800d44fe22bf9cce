"""Clusters and runs: stages, refusals, validation, the weighted vote, flagging, the decision record, access."""

from __future__ import annotations

import pytest

from apps.agents.clusters import redteam, services
from apps.agents.clusters.combine import weighted_vote
from apps.agents.models import Agent, AgentProposalRecord, AgentStatus, Cluster, ClusterRun, ClusterRunStatus
from apps.audit.models import AuditEvent
from apps.identity.keys import verify
from apps.identity.models import SigningKey
from apps.tenancy.scope import institution_scope
from portal.testing import api_as

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _redteam_engine():
    yield
    redteam.forget_engine()


NODE_EVENTS = ["identity.login", "identity.logout", "identity.api_forbidden", "identity.api_auth_failed"]


def _cluster(institution, actor, *groups, name="Review", policy=None, decisions=("approve", "deny")):
    with institution_scope(institution):
        return services.cluster_create(
            institution=institution,
            actor=actor,
            name=name,
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*groups),
            allowed_decisions=list(decisions),
            flagging_policy=policy or {},
        )


def _run(cluster, actor, record=None, capture=None):
    with institution_scope(cluster.institution), capture(execute=True):
        run = services.cluster_run_start(cluster=cluster, record=record or redteam.RECORD, documents={}, actor=actor)
    run.refresh_from_db()
    return run


@pytest.fixture
def honest5(aurelia, ada):
    return [redteam.make_agent(aurelia, ada, f"Honest {i}") for i in range(5)]


def test_an_honest_five_stage_run_decides_with_signed_proposals(
    aurelia, ada, honest5, django_capture_on_commit_callbacks
):
    cluster = _cluster(aurelia, ada, *[[a] for a in honest5])
    run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    assert run.status == ClusterRunStatus.DECIDED
    assert (run.decision, run.flagged, run.progress) == ("approve", False, 5)
    assert run.confidence == pytest.approx(0.9)
    with institution_scope(aurelia):
        records = list(AgentProposalRecord.objects.filter(run=run))
    assert len(records) == 5 and all(r.accepted for r in records)
    assert sorted(run.weights.values()) == pytest.approx([0.2] * 5)  # no history: uniform
    record = records[0]
    key = SigningKey.objects.get(key_id=record.key_id)
    import base64

    message = services.proposal_signing_message(
        run_id=run.pk, stage_index=0, agent_uid=str(record.agent.uid), proposal=record.proposal
    )
    assert verify(bytes(key.public_key), base64.b64decode(record.signature), message)


def test_the_decision_record_is_in_the_audit_log(aurelia, ada, honest5, django_capture_on_commit_callbacks):
    cluster = _cluster(aurelia, ada, *[[a] for a in honest5])
    run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    event = AuditEvent.objects.get(action="agents.cluster_run_decide", target_id=str(run.pk))
    assert event.changes["inputs_digest"] == run.inputs_digest
    assert len(event.changes["proposals"]) == 5 and all(p["signature"] for p in event.changes["proposals"])
    assert event.changes["outcome"]["decision"] == "approve"
    assert AuditEvent.objects.filter(action="agents.cluster_run_start", target_id=str(run.pk)).count() == 1


def test_a_fabricating_agent_is_rejected_and_the_run_flagged(aurelia, ada, honest5, django_capture_on_commit_callbacks):
    liar = redteam.make_agent(aurelia, ada, "Liar", behaviour="fabricate")
    cluster = _cluster(aurelia, ada, [honest5[0]], [liar, honest5[1]])
    run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    with institution_scope(aurelia):
        lie = AgentProposalRecord.objects.get(run=run, agent=liar)
    assert not lie.accepted and lie.findings[0]["kind"] == "hallucination"
    assert run.status == ClusterRunStatus.FLAGGED and run.flagged
    assert str(liar.pk) not in run.weights  # only accepted proposals are weighed


@pytest.mark.parametrize("kind", ["capability", "other_institution", "off_menu"])
def test_an_out_of_scope_agent_is_refused_and_the_run_flagged(
    kind, aurelia, borealis, ada, honest5, django_capture_on_commit_callbacks
):
    if kind == "capability":
        rogue = redteam.make_agent(aurelia, ada, "Rogue", capabilities=["permits.other"])
    elif kind == "off_menu":
        rogue = redteam.make_agent(aurelia, ada, "Rogue", behaviour="off_menu")
    else:
        rogue = redteam.make_agent(aurelia, ada, "Rogue")
    cluster = _cluster(aurelia, ada, [honest5[0]], [rogue, honest5[1]])
    if kind == "other_institution":
        # a tampered cluster: its agent moved to another institution after the cluster was made
        Agent.all_institutions.filter(pk=rogue.pk).update(institution=borealis)
    run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    with institution_scope(aurelia):
        refused = AgentProposalRecord.objects.get(run=run, agent=rogue)
    assert refused.refused and not refused.accepted and not refused.signature
    assert run.flagged and run.decision == "approve"


def test_an_agent_suspended_mid_run_is_skipped(aurelia, ada, honest5, django_capture_on_commit_callbacks):
    cluster = _cluster(aurelia, ada, [honest5[0]], [honest5[1]], [honest5[2]])
    original = services.cluster_stage_execute

    def suspend_after_first_stage(*, run, stage_index):
        if stage_index == 1:
            Agent.all_institutions.filter(pk=honest5[2].pk).update(status=AgentStatus.SUSPENDED)
        return original(run=run, stage_index=stage_index)

    services.cluster_stage_execute = suspend_after_first_stage
    try:
        run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    finally:
        services.cluster_stage_execute = original
    with institution_scope(aurelia):
        skipped = AgentProposalRecord.objects.get(run=run, agent=honest5[2])
    assert skipped.refused == "inactive" and not skipped.proposal
    assert run.status == ClusterRunStatus.DECIDED
    assert set(run.weights) == {str(honest5[0].pk), str(honest5[1].pk)}


def test_disagreement_flags(aurelia, ada, django_capture_on_commit_callbacks):
    yes = [redteam.make_agent(aurelia, ada, f"Yes {i}") for i in range(2)]
    no = [redteam.make_agent(aurelia, ada, f"No {i}", decision="deny") for i in range(2)]
    cluster = _cluster(aurelia, ada, yes, no)
    run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    assert run.flagged and any("Disagreement" in r for r in run.reasons)


def test_high_impact_flags(aurelia, ada, honest5, django_capture_on_commit_callbacks):
    policy = {"high_impact": {"field": "crowd_size", "threshold": 100}}
    cluster = _cluster(aurelia, ada, [honest5[0]], policy=policy)
    run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    assert run.flagged and any("High impact" in r for r in run.reasons)


def test_a_redelivered_stage_adds_no_proposal(aurelia, ada, honest5, django_capture_on_commit_callbacks):
    cluster = _cluster(aurelia, ada, [honest5[0], honest5[1]])
    run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    with institution_scope(aurelia):
        assert services.cluster_stage_execute(run=run, stage_index=0) is False
        assert AgentProposalRecord.objects.filter(run=run).count() == 2


def test_reputation_weights_follow_the_validation_history(aurelia, ada, django_capture_on_commit_callbacks):
    good = redteam.make_agent(aurelia, ada, "Good")
    flaky = redteam.make_agent(aurelia, ada, "Flaky", behaviour="fabricate")
    other = redteam.make_agent(aurelia, ada, "Other")
    cluster = _cluster(aurelia, ada, [good, flaky, other])
    for _ in range(3):
        _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    Agent.all_institutions.filter(pk=flaky.pk).update(config={})  # honest now
    run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    assert run.weights[str(flaky.pk)] < run.weights[str(good.pk)]


def test_weighted_vote():
    combined = weighted_vote([("a", "approve", 1.0), ("b", "deny", 1.0)], {"a": 0.75, "b": 0.25})
    assert (combined.decision, combined.confidence, combined.disagreement) == ("approve", 0.75, 0.25)
    assert weighted_vote([], {}).confidence is None


# access ---------------------------------------------------------------------------------


def _state():
    return (
        AuditEvent.objects.exclude(action__in=NODE_EVENTS).count(),
        Cluster.all_institutions.count(),
        ClusterRun.all_institutions.count(),
        AgentProposalRecord.all_institutions.count(),
    )


@pytest.fixture
def cluster(aurelia, ada, honest5):
    return _cluster(aurelia, ada, [honest5[0]], [honest5[1]])


def test_api_submit_and_read_a_run(alice, cluster, aurelia, django_capture_on_commit_callbacks):
    client = api_as(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/institutions/{aurelia.slug}/agents/clusters/{cluster.pk}/runs/",
            {"record": redteam.RECORD},
            format="json",
        )
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    body = client.get(f"/api/v1/institutions/{aurelia.slug}/agents/runs/{run_id}/").json()
    assert body["status"] == "decided" and len(body["proposals"]) == 2
    assert body["proposals"][0]["proposal"]["claims"][0]["evidence"]


def test_api_admin_creates_a_cluster(ada, aurelia, honest5):
    response = api_as(ada).post(
        f"/api/v1/institutions/{aurelia.slug}/agents/clusters/",
        {
            "name": "API",
            "task_type": redteam.TASK_TYPE,
            "stages": redteam.stages_of([honest5[0]]),
            "allowed_decisions": ["approve"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "payload",
    [
        {"record": "not an object"},
        {"record": {"a": 1}, "documents": ["x"]},
        {},
    ],
)
def test_api_bad_run_input_is_a_problem_and_changes_nothing(alice, cluster, aurelia, payload):
    before = _state()
    response = api_as(alice).post(
        f"/api/v1/institutions/{aurelia.slug}/agents/clusters/{cluster.pk}/runs/", payload, format="json"
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert _state() == before


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "X", "task_type": redteam.TASK_TYPE, "stages": [], "allowed_decisions": ["approve"]},
        {"name": "X", "task_type": "Bad Type", "stages": [{"name": "a", "agents": []}], "allowed_decisions": ["a"]},
        {
            "name": "X",
            "task_type": redteam.TASK_TYPE,
            "stages": [{"name": "a", "agents": ["nope"]}],
            "allowed_decisions": ["a"],
        },
        {
            "name": "X",
            "task_type": redteam.TASK_TYPE,
            "stages": [{"name": "a", "agents": []}],
            "allowed_decisions": ["a"],
            "flagging_policy": {"min_confidence": 3},
        },
    ],
)
def test_api_bad_cluster_input_is_a_problem_and_changes_nothing(ada, aurelia, cluster, payload):
    before = _state()
    response = api_as(ada).post(f"/api/v1/institutions/{aurelia.slug}/agents/clusters/", payload, format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert _state() == before


def test_an_agent_of_another_institution_cannot_join_a_cluster(ada, aurelia, borealis):
    stranger = redteam.make_agent(borealis, None, "Stranger")
    before = _state()
    response = api_as(ada).post(
        f"/api/v1/institutions/{aurelia.slug}/agents/clusters/",
        {
            "name": "X",
            "task_type": redteam.TASK_TYPE,
            "stages": redteam.stages_of([stranger]),
            "allowed_decisions": ["a"],
        },
        format="json",
    )
    assert response.status_code == 400 and _state() == before


def test_bob_gets_403_on_writes_and_nothing_changes(bob, aurelia, cluster, honest5):
    before = _state()
    client = api_as(bob)
    base = f"/api/v1/institutions/{aurelia.slug}/agents/clusters/"
    assert client.post(f"{base}{cluster.pk}/runs/", {"record": {}}, format="json").status_code == 403
    payload = {
        "name": "B",
        "task_type": redteam.TASK_TYPE,
        "stages": redteam.stages_of([honest5[0]]),
        "allowed_decisions": ["a"],
    }
    assert client.post(base, payload, format="json").status_code == 403
    assert _state() == before


def test_charlie_gets_404_everywhere_and_nothing_changes(
    charlie, aurelia, ada, cluster, django_capture_on_commit_callbacks
):
    run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    before = _state()
    client = api_as(charlie)
    base = f"/api/v1/institutions/{aurelia.slug}/agents/"
    assert client.get(f"{base}clusters/").status_code == 404
    assert client.get(f"{base}clusters/{cluster.pk}/").status_code == 404
    assert client.put(f"{base}clusters/{cluster.pk}/", {"name": "x"}, format="json").status_code == 404
    assert client.post(f"{base}clusters/{cluster.pk}/runs/", {"record": {}}, format="json").status_code == 404
    assert client.get(f"{base}runs/{run.pk}/").status_code == 404
    assert _state() == before


def test_the_run_page_shows_stages_proposals_and_outcome(
    client, alice, bob, charlie, aurelia, ada, cluster, django_capture_on_commit_callbacks
):
    run = _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    url = f"/i/{aurelia.slug}/agents/runs/{run.pk}/"
    client.force_login(alice)
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "intake" in body and "crowd_size" in body and run.inputs_digest in body and "hx-get" not in body
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    client.force_login(bob)
    assert client.get(url).status_code == 403
    client.force_login(charlie)
    assert client.get(url).status_code == 404


def test_a_running_run_page_polls(client, alice, aurelia, ada, cluster):
    with institution_scope(aurelia):
        run = services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=ada)
    client.force_login(alice)
    assert 'hx-trigger="every 1s"' in client.get(f"/i/{aurelia.slug}/agents/runs/{run.pk}/").content.decode()


def test_a_stage_that_breaks_fails_the_run(aurelia, ada, honest5, django_capture_on_commit_callbacks, monkeypatch):
    cluster = _cluster(aurelia, ada, [honest5[0]])

    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "cluster_stage_execute", broken)
    with pytest.raises(RuntimeError):
        _run(cluster, ada, capture=django_capture_on_commit_callbacks)
    with institution_scope(aurelia):
        run = ClusterRun.objects.get(cluster=cluster)
    assert run.status == ClusterRunStatus.FAILED and "disk on fire" in run.error


def test_api_admin_updates_a_cluster_and_a_run_under_way_keeps_its_stages(ada, alice, aurelia, cluster, honest5):
    with institution_scope(aurelia):
        run = services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=ada)
    payload = {
        "name": "Renamed",
        "task_type": redteam.TASK_TYPE,
        "stages": redteam.stages_of([honest5[4]]),
        "allowed_decisions": ["approve"],
        "flagging_policy": {"min_confidence": 0.5},
    }
    url = f"/api/v1/institutions/{aurelia.slug}/agents/clusters/{cluster.pk}/"
    assert api_as(alice).put(url, payload, format="json").status_code == 403
    response = api_as(ada).put(url, payload, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["stages"] == payload["stages"]
    assert AuditEvent.objects.filter(action="agents.cluster_update").count() == 1
    run.refresh_from_db()
    assert len(run.cluster_snapshot["stages"]) == 2
    with institution_scope(aurelia):
        assert services.cluster_stage_execute(run=run, stage_index=0) is True
        assert AgentProposalRecord.objects.get(run=run).agent == honest5[0]


def test_api_bad_cluster_update_changes_nothing(ada, aurelia, cluster):
    before = (_state(), list(Cluster.all_institutions.values_list("name", "stages", "flagging_policy")))
    response = api_as(ada).put(
        f"/api/v1/institutions/{aurelia.slug}/agents/clusters/{cluster.pk}/",
        {"name": "X", "task_type": redteam.TASK_TYPE, "stages": "nope", "allowed_decisions": ["a"]},
        format="json",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert (_state(), list(Cluster.all_institutions.values_list("name", "stages", "flagging_policy"))) == before


def test_the_service_refuses_a_citizen_submitting_a_task(aurelia, ada, bob, honest5):
    from portal.errors import PermissionDenied

    cluster = _cluster(aurelia, ada, [honest5[0]])
    before = _state()
    with institution_scope(aurelia), pytest.raises(PermissionDenied):
        services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=bob)
    assert _state() == before

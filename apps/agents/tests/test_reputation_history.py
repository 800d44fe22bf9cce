"""Stored reputation: evidence from runs, snapshots recomputed by Celery, weights read from
the latest snapshot, the history and the "why it moved" page and API."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from apps.agents import tasks
from apps.agents.clusters import redteam, services
from apps.agents.models import (
    Agent,
    AgentReputation,
    AgentStatus,
    ReputationEvidence,
    ReputationGraph,
    ReputationSnapshot,
)
from apps.agents.reputation import selectors
from apps.agents.reputation import services as reputation_services
from apps.audit.models import AuditEvent
from apps.tenancy.scope import institution_scope
from portal.errors import ValidationFailed
from portal.testing import api_as

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean():
    yield
    redteam.forget_engine()


def _cluster(institution, actor, agents):
    with institution_scope(institution):
        return services.cluster_create(
            institution=institution,
            actor=actor,
            name="Review",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
        )


def _run(cluster, actor, capture):
    with institution_scope(cluster.institution), capture(execute=True):
        run = services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=actor)
    run.refresh_from_db()
    return run


@pytest.fixture
def trio(aurelia, ada):
    return [
        redteam.make_agent(aurelia, ada, "Good"),
        redteam.make_agent(aurelia, ada, "Liar", behaviour="fabricate"),
        redteam.make_agent(aurelia, ada, "Other"),
    ]


def test_a_decided_run_leaves_evidence_and_a_snapshot(aurelia, ada, trio, django_capture_on_commit_callbacks):
    good, liar, _other = trio
    run = _run(_cluster(aurelia, ada, trio), ada, django_capture_on_commit_callbacks)
    with institution_scope(aurelia):
        validation = ReputationEvidence.objects.filter(run=run, graph=ReputationGraph.VALIDATION)
        # three agents took part: each is rated by the two others
        assert validation.count() == 6
        assert set(validation.filter(ratee=liar).values_list("negative", flat=True)) == {1.0}
        assert set(validation.filter(ratee=good).values_list("positive", flat=True)) == {1.0}
        # the liar's proposal was rejected: it takes no part in the peer graph
        peer = ReputationEvidence.objects.filter(run=run, graph=ReputationGraph.PEER)
        assert peer.count() == 2 and not peer.filter(rater=liar).exists() and not peer.filter(ratee=liar).exists()
        snapshot = ReputationSnapshot.objects.get()
        assert snapshot.evidence_count == 8 and snapshot.trigger == "new evidence"
        scores = dict(AgentReputation.objects.filter(snapshot=snapshot).values_list("agent_id", "score"))
    assert scores[liar.pk] < scores[good.pk]
    assert sum(scores.values()) == pytest.approx(1.0)
    event = AuditEvent.objects.get(action="agents.reputation_recompute")
    assert event.changes["evidence_upto"] == snapshot.evidence_upto
    assert event.changes["scores"][str(liar.uid)] == pytest.approx(scores[liar.pk])


def test_runs_read_weights_from_the_latest_snapshot(aurelia, ada, trio, django_capture_on_commit_callbacks):
    good, liar, _other = trio
    cluster = _cluster(aurelia, ada, trio)
    first = _run(cluster, ada, django_capture_on_commit_callbacks)
    assert first.reputation_snapshot is None  # no history yet: uniform weights
    Agent.all_institutions.filter(pk=liar.pk).update(config={})  # honest from now on
    second = _run(cluster, ada, django_capture_on_commit_callbacks)
    with institution_scope(aurelia):
        snapshot = ReputationSnapshot.objects.order_by("pk").first()
    assert second.reputation_snapshot_id == snapshot.pk
    assert second.weights[str(liar.pk)] < second.weights[str(good.pk)]
    decided = AuditEvent.objects.get(action="agents.cluster_run_decide", target_id=str(second.pk))
    assert decided.changes["reputation_snapshot"] == snapshot.pk


def test_a_newcomer_is_weighted_as_the_least_trusted(aurelia, ada, trio, django_capture_on_commit_callbacks):
    _run(_cluster(aurelia, ada, trio), ada, django_capture_on_commit_callbacks)
    newcomer = redteam.make_agent(aurelia, ada, "Newcomer")
    good, liar, _other = trio
    weights, snapshot = selectors.run_weights(institution=aurelia, agent_ids=[good.pk, liar.pk, newcomer.pk])
    with institution_scope(aurelia):
        floor = min(s for s in AgentReputation.objects.filter(snapshot=snapshot).values_list("score", flat=True) if s)
        liar_score = AgentReputation.objects.get(snapshot=snapshot, agent=liar).score
    assert weights[str(newcomer.pk)] / weights[str(liar.pk)] == pytest.approx(floor / liar_score)
    assert sum(weights.values()) == pytest.approx(1.0)


def test_nothing_new_makes_no_snapshot(aurelia, ada, trio, django_capture_on_commit_callbacks):
    _run(_cluster(aurelia, ada, trio), ada, django_capture_on_commit_callbacks)
    events = AuditEvent.objects.filter(action="agents.reputation_recompute").count()
    with institution_scope(aurelia):
        assert reputation_services.reputation_recompute(institution=aurelia, trigger="schedule") is None
        assert ReputationSnapshot.objects.count() == 1
    assert AuditEvent.objects.filter(action="agents.reputation_recompute").count() == events


def test_a_certification_change_is_a_new_snapshot_on_schedule(aurelia, ada, trio, django_capture_on_commit_callbacks):
    _run(_cluster(aurelia, ada, trio), ada, django_capture_on_commit_callbacks)
    Agent.all_institutions.filter(pk=trio[2].pk).update(status=AgentStatus.SUSPENDED)
    assert tasks.reputation_recompute_all_task.delay().get() == 1
    with institution_scope(aurelia):
        latest = ReputationSnapshot.objects.order_by("-pk").first()
        assert ReputationSnapshot.objects.count() == 2
    assert latest.trigger == "schedule" and str(trio[2].uid) not in latest.pretrusted


def test_a_burst_of_evidence_queues_one_recomputation(aurelia, ada, trio, django_capture_on_commit_callbacks):
    good, _liar, other = trio
    # a task already queued (the key is taken): more evidence does not queue another
    cache.add(f"agents.reputation.pending.{aurelia.pk}", 1)
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            reputation_services.reputation_evidence_add(
                institution=aurelia,
                rater=good,
                ratee=other,
                graph=ReputationGraph.COUNCIL,
                positive=1,
                negative=0,
                source="council verdict",
                actor=ada,
            )
        assert ReputationSnapshot.objects.count() == 0
    assert AuditEvent.objects.filter(action="agents.reputation_evidence").count() == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"graph": "gossip"}, "graph"),
        ({"positive": -1}, "positive"),
        ({"negative": True}, "negative"),
        ({"source": ""}, "source"),
        ({"ratee": "self"}, "agent"),
        ({"ratee": "foreign"}, "agent"),
    ],
)
def test_bad_evidence_is_refused_and_changes_nothing(aurelia, borealis, ada, trio, change, field):
    good, _liar, other = trio
    arguments = {
        "institution": aurelia,
        "rater": good,
        "ratee": other,
        "graph": ReputationGraph.COUNCIL,
        "positive": 1,
        "negative": 0,
        "source": "council verdict",
        "actor": ada,
        **change,
    }
    if change.get("ratee") == "self":
        arguments["ratee"] = good
    elif change.get("ratee") == "foreign":
        arguments["ratee"] = redteam.make_agent(borealis, None, "Foreign")
    with institution_scope(aurelia), pytest.raises(ValidationFailed) as raised:
        reputation_services.reputation_evidence_add(**arguments)
    assert field in raised.value.extra["errors"]
    assert ReputationEvidence.all_institutions.count() == 0
    assert not AuditEvent.objects.filter(action="agents.reputation_evidence").exists()


def test_the_move_is_explained_from_stored_evidence(aurelia, ada, trio, django_capture_on_commit_callbacks):
    good, liar, other = trio
    cluster = _cluster(aurelia, ada, trio)
    _run(cluster, ada, django_capture_on_commit_callbacks)
    Agent.all_institutions.filter(pk=liar.pk).update(config={})
    _run(cluster, ada, django_capture_on_commit_callbacks)
    with institution_scope(aurelia):
        first, second = ReputationSnapshot.objects.order_by("pk")
        stored = AgentReputation.objects.get(snapshot=second, agent=liar).score
        before = AgentReputation.objects.get(snapshot=first, agent=liar).score
    with institution_scope(aurelia):
        move = selectors.reputation_move(institution=aurelia, agent=liar)
        first_move = selectors.reputation_move(institution=aurelia, agent=liar, snapshot=first)
    # rebuilt from the evidence, the scores are the stored ones
    assert move.explanation.after == pytest.approx(stored)
    assert move.explanation.before == pytest.approx(before)
    assert move.change > 0  # the liar turned honest: accepted now, and agreeing with its peers
    assert move.before_snapshot == first and move.after_snapshot == second
    assert move.new_evidence == 4  # rated by two agents in two graphs in the second run
    assert {e.rater for e in move.edges} <= {good, other}
    assert dict(move.by_graph).keys() <= {"validation", "peer", "pre-trust"}
    assert first_move.before_snapshot is None and first_move.explanation.after == pytest.approx(before)


def test_the_pages_show_ranking_history_and_why(client, aurelia, ada, alice, trio, django_capture_on_commit_callbacks):
    _good, liar, _other = trio
    cluster = _cluster(aurelia, ada, trio)
    _run(cluster, ada, django_capture_on_commit_callbacks)
    Agent.all_institutions.filter(pk=liar.pk).update(config={})
    _run(cluster, ada, django_capture_on_commit_callbacks)
    client.force_login(alice)
    ranking = client.get(f"/i/{aurelia.slug}/agents/reputation/")
    assert ranking.status_code == 200
    assert "Liar" in ranking.content.decode() and "Recompute now" not in ranking.content.decode()
    page = client.get(f"/i/{aurelia.slug}/agents/{liar.uid}/reputation/")
    body = page.content.decode()
    assert page.status_code == 200 and "Why the score moved" in body and "Good" in body
    with institution_scope(aurelia):
        first = ReputationSnapshot.objects.order_by("pk").first()
    older = client.get(f"/i/{aurelia.slug}/agents/{liar.uid}/reputation/?snapshot={first.pk}")
    assert "In the first computation" in older.content.decode()
    assert client.get(f"/i/{aurelia.slug}/agents/{liar.uid}/reputation/?snapshot=x").status_code == 302
    assert client.get(f"/i/{aurelia.slug}/agents/{liar.uid}/reputation/?snapshot=999999").status_code == 404
    # a civil servant cannot recompute; nothing is written
    assert client.post(f"/i/{aurelia.slug}/agents/reputation/recompute/").status_code == 403


def test_an_admin_recomputes_from_the_page(client, aurelia, ada, trio, django_capture_on_commit_callbacks):
    _run(_cluster(aurelia, ada, trio), ada, django_capture_on_commit_callbacks)
    Agent.all_institutions.filter(pk=trio[0].pk).update(status=AgentStatus.DRAFT)
    client.force_login(ada)
    response = client.post(f"/i/{aurelia.slug}/agents/reputation/recompute/", follow=True)
    assert "Reputation recomputed." in response.content.decode()
    with institution_scope(aurelia):
        assert ReputationSnapshot.objects.filter(trigger="manual").count() == 1
    again = client.post(f"/i/{aurelia.slug}/agents/reputation/recompute/", follow=True)
    assert "Nothing changed" in again.content.decode()


def test_the_api_reads_ranking_and_move(aurelia, ada, alice, bob, trio, django_capture_on_commit_callbacks):
    _good, liar, _other = trio
    _run(_cluster(aurelia, ada, trio), ada, django_capture_on_commit_callbacks)
    client = api_as(alice)
    ranking = client.get(f"/api/v1/institutions/{aurelia.slug}/agents/reputation/").json()
    assert [a["name"] for a in ranking["agents"]][-1] == "Liar"
    assert ranking["snapshot"]["evidence_count"] == 8
    detail = client.get(f"/api/v1/institutions/{aurelia.slug}/agents/{liar.uid}/reputation/").json()
    assert detail["history"][0]["change"] is None and detail["move"]["previous_snapshot"] is None
    bad = client.get(f"/api/v1/institutions/{aurelia.slug}/agents/{liar.uid}/reputation/?snapshot=x")
    assert bad.status_code == 400 and bad["Content-Type"].startswith("application/problem+json")
    # only administrators recompute
    refused = client.post(f"/api/v1/institutions/{aurelia.slug}/agents/reputation/")
    assert refused.status_code == 403
    with institution_scope(aurelia):
        assert ReputationSnapshot.objects.count() == 1

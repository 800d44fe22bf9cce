"""Reads of stored reputation: the weights a run uses, an agent's history, why its score moved."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Min, QuerySet, Sum
from django.http import Http404

from apps.agents.models import Agent, AgentReputation, ReputationEvidence, ReputationSnapshot
from apps.agents.reputation.eigentrust import (
    Contribution,
    EdgeReason,
    Explanation,
    Interactions,
    Reputation,
    edge_reason,
    eigentrust,
    explain,
)
from apps.tenancy.models import Institution


def latest_snapshot(*, institution: Institution) -> ReputationSnapshot | None:
    # tenancy: explicit institution filter, also called from Celery tasks
    return ReputationSnapshot.all_institutions.filter(institution=institution).order_by("-pk").first()


def snapshot_get(*, institution: Institution, snapshot_id: int) -> ReputationSnapshot:
    """Raises: Http404 when the snapshot is not this institution's."""
    snapshot = ReputationSnapshot.objects.filter(institution=institution, pk=snapshot_id).first()
    if snapshot is None:
        raise Http404
    return snapshot


def run_weights(
    *, institution: Institution, agent_ids: list[int]
) -> tuple[dict[str, float], ReputationSnapshot | None]:
    """Weights of these agents from the latest snapshot, normalised over them, and the snapshot.

    Uniform when there is no snapshot yet. An agent the snapshot does not know (registered
    since) counts as the least trusted agent of the snapshot: a newcomer earns trust, it is
    not lent more than anyone else's."""
    if not agent_ids:
        return {}, None
    uniform = {str(a): 1 / len(agent_ids) for a in agent_ids}
    snapshot = latest_snapshot(institution=institution)
    if snapshot is None:
        return uniform, None
    # tenancy: the snapshot is this institution's
    rows = AgentReputation.all_institutions.filter(snapshot=snapshot)
    known = dict(rows.filter(agent_id__in=agent_ids).values_list("agent_id", "score"))
    floor = rows.filter(score__gt=0).aggregate(floor=Min("score"))["floor"] or 0.0
    scores = {a: max(known.get(a, floor), 0.0) for a in agent_ids}
    total = sum(scores.values())
    if total <= 0:
        return uniform, snapshot
    return {str(a): s / total for a, s in scores.items()}, snapshot


def ranking(*, institution: Institution, snapshot: ReputationSnapshot) -> QuerySet[AgentReputation]:
    return AgentReputation.objects.filter(institution=institution, snapshot=snapshot).select_related("agent")


@dataclass(frozen=True)
class HistoryEntry:
    snapshot: ReputationSnapshot
    score: float
    rank: int
    change: float | None  # since the agent's previous snapshot; None for its first


def agent_history(*, institution: Institution, agent: Agent, limit: int = 50) -> list[HistoryEntry]:
    """The agent's scores, newest first, with the change from the snapshot before each."""
    rows = list(
        AgentReputation.objects.filter(institution=institution, agent=agent)
        .select_related("snapshot")
        .order_by("-snapshot_id")[: limit + 1]
    )
    entries = []
    for i, row in enumerate(rows[:limit]):
        previous = rows[i + 1] if i + 1 < len(rows) else None
        entries.append(
            HistoryEntry(
                snapshot=row.snapshot,
                score=row.score,
                rank=row.rank,
                change=None if previous is None else row.score - previous.score,
            )
        )
    return entries


@dataclass(frozen=True)
class EdgeMove:
    graph: str
    rater: Agent | None
    contribution: Contribution
    reason: EdgeReason


@dataclass(frozen=True)
class Move:
    """Why an agent's score moved between two snapshots."""

    agent: Agent
    before_snapshot: ReputationSnapshot | None
    after_snapshot: ReputationSnapshot
    explanation: Explanation
    by_graph: list[tuple[str, float]]
    edges: list[EdgeMove]
    new_evidence: int  # evidence rows between the two snapshots that name this agent

    @property
    def change(self) -> float:
        return self.explanation.change


def _recompute(*, institution: Institution, snapshot: ReputationSnapshot | None) -> Reputation:
    """The snapshot's EigenTrust computation, rebuilt from its evidence (deterministic, so the
    scores are the stored ones); an empty computation stands for "before the first snapshot"."""
    if snapshot is None:
        return eigentrust(Interactions.empty())
    # tenancy: explicit institution filter on every query
    agent_ids = list(AgentReputation.all_institutions.filter(snapshot=snapshot).values_list("agent_id", flat=True))
    uids = {
        str(uid): pk
        for pk, uid in Agent.all_institutions.filter(institution=institution, pk__in=agent_ids).values_list("pk", "uid")
    }
    pairs = (
        ReputationEvidence.all_institutions.filter(institution=institution, pk__lte=snapshot.evidence_upto)
        .values("rater_id", "ratee_id", "graph")
        .annotate(positive=Sum("positive"), negative=Sum("negative"))
        .order_by()
    )
    records = [(p["rater_id"], p["ratee_id"], p["positive"], p["negative"], p["graph"]) for p in pairs]
    return eigentrust(
        Interactions.from_records(records),
        pretrusted=[uids[u] for u in snapshot.pretrusted if u in uids],
        agents=sorted(agent_ids),
    )


def reputation_move(
    *, institution: Institution, agent: Agent, snapshot: ReputationSnapshot | None = None, top: int = 5
) -> Move | None:
    """Explain the agent's score in `snapshot` (default: the latest) against the snapshot before it.

    None when there is no snapshot at all."""
    after = snapshot or latest_snapshot(institution=institution)
    if after is None:
        return None
    before = ReputationSnapshot.objects.filter(institution=institution, pk__lt=after.pk).order_by("-pk").first()
    old, new = _recompute(institution=institution, snapshot=before), _recompute(institution=institution, snapshot=after)
    explanation = explain(old, new, agent.pk, top=top)
    edges = [c for c in explanation.contributions if c.rater is not None and abs(c.change) > 0][:top]
    raters = {a.pk: a for a in Agent.objects.filter(institution=institution, pk__in=[c.rater for c in edges])}
    moves = [
        EdgeMove(graph=c.graph, rater=raters.get(c.rater), contribution=c, reason=edge_reason(old, new, c, agent.pk))
        for c in edges
    ]
    lower = before.evidence_upto if before is not None else 0
    new_evidence = (
        ReputationEvidence.objects.filter(institution=institution, pk__gt=lower, pk__lte=after.evidence_upto)
        .filter(ratee=agent)
        .count()
    )
    return Move(
        agent=agent,
        before_snapshot=before,
        after_snapshot=after,
        explanation=explanation,
        by_graph=[(g, v) for g, v in explanation.by_graph.items() if abs(v) > 1e-12],
        edges=moves,
        new_evidence=new_evidence,
    )

"""Writes of reputation: evidence from runs (and councils), and the stored EigenTrust history.

Evidence is append-only. A snapshot is EigenTrust over all the institution's evidence up to
one row, seeded by its certified agents; snapshots are kept for ever so that a move can be
explained. Runs read the latest snapshot (`selectors.run_weights`) instead of recomputing
over the whole history at each decision.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Sum

from apps.agents.models import (
    Agent,
    AgentProposalRecord,
    AgentReputation,
    AgentStatus,
    ClusterRun,
    ReputationEvidence,
    ReputationGraph,
    ReputationSnapshot,
)
from apps.agents.reputation.eigentrust import Interactions, eigentrust
from apps.audit.services import audit_append
from apps.tenancy.models import Institution
from portal.errors import ValidationFailed

logger = logging.getLogger(__name__)

# A burst of decisions asks for one recomputation, not one each: the first request in this
# window queues the task, the others find the key taken.
RECOMPUTE_DEBOUNCE_SECONDS = 10
MAX_EVIDENCE_COUNT = 1_000_000.0


def _pending_key(institution_id: int) -> str:
    return f"agents.reputation.pending.{institution_id}"


def reputation_evidence_from_run(*, run: ClusterRun, records: list[AgentProposalRecord]) -> int:
    """Store what a decided run says of its agents; call inside the run's final transaction.

    Validation graph: every other agent that took part rates an agent up when the validator
    accepted its proposal and down when it rejected it. Peer graph: agents whose accepted
    proposals agree rate each other up, those that disagree rate each other down. Agents
    refused (inactive, out of scope, engine error) gave no proposal and take no part."""
    took_part = [r for r in records if not r.refused]
    accepted = [r for r in took_part if r.accepted]
    rows = []
    source = f"run {run.pk}"
    for record in took_part:
        for rater in took_part:
            if rater.agent_id == record.agent_id:
                continue
            rows.append(
                ReputationEvidence(
                    institution=run.institution,
                    rater_id=rater.agent_id,
                    ratee_id=record.agent_id,
                    graph=ReputationGraph.VALIDATION,
                    positive=1.0 if record.accepted else 0.0,
                    negative=0.0 if record.accepted else 1.0,
                    run=run,
                    source=source,
                )
            )
    for record in accepted:
        for rater in accepted:
            if rater.agent_id == record.agent_id:
                continue
            agree = rater.proposal.get("decision") == record.proposal.get("decision")
            rows.append(
                ReputationEvidence(
                    institution=run.institution,
                    rater_id=rater.agent_id,
                    ratee_id=record.agent_id,
                    graph=ReputationGraph.PEER,
                    positive=1.0 if agree else 0.0,
                    negative=0.0 if agree else 1.0,
                    run=run,
                    source=source,
                )
            )
    ReputationEvidence.objects.bulk_create(rows)
    if rows:
        reputation_recompute_soon(institution_id=run.institution_id)
    return len(rows)


@transaction.atomic
def reputation_evidence_from_verdict(*, run: ClusterRun, decision: str, item_id: int) -> int:
    """Store what a council's verdict says of a run's agents: the council graph.

    Every agent that gave an accepted or rejected proposal is rated by every other such agent:
    up when its decision is the verdict's, down when it is not. When the council sent the case
    back to people (no decision), only the agents that proposed the overturned decision are
    known to be wrong. Idempotent per review item."""
    source = f"council item {item_id}"
    # tenancy: the run's institution, explicit
    if ReputationEvidence.all_institutions.filter(institution=run.institution, source=source).exists():
        return 0
    took_part = [
        r
        for r in AgentProposalRecord.all_institutions.filter(run=run, refused="")
        if (r.proposal or {}).get("decision")
    ]
    rows = []
    for record in took_part:
        proposed = record.proposal["decision"]
        if decision:
            right = proposed == decision
        elif proposed == run.decision:
            right = False
        else:
            continue
        for rater in took_part:
            if rater.agent_id == record.agent_id:
                continue
            rows.append(
                ReputationEvidence(
                    institution=run.institution,
                    rater_id=rater.agent_id,
                    ratee_id=record.agent_id,
                    graph=ReputationGraph.COUNCIL,
                    positive=1.0 if right else 0.0,
                    negative=0.0 if right else 1.0,
                    run=run,
                    source=source,
                )
            )
    ReputationEvidence.objects.bulk_create(rows)
    if rows:
        audit_append(
            institution=run.institution,
            actor=None,
            action="agents.reputation_evidence",
            target=run,
            changes={"graph": ReputationGraph.COUNCIL, "source": source, "rows": len(rows), "decision": decision},
        )
        reputation_recompute_soon(institution_id=run.institution_id)
    return len(rows)


@transaction.atomic
def reputation_evidence_add(
    *,
    institution: Institution,
    rater: Agent,
    ratee: Agent,
    graph: str,
    positive: float,
    negative: float,
    source: str,
    actor,
) -> ReputationEvidence:
    """Record one rating of an agent (e.g. agreement with a council verdict) and queue a recomputation.

    Raises: ValidationFailed."""
    errors: dict[str, list[str]] = {}
    if graph not in ReputationGraph.values:
        errors["graph"] = [f"Unknown graph; use one of {', '.join(ReputationGraph.values)}."]
    if rater.institution_id != institution.pk or ratee.institution_id != institution.pk:
        errors["agent"] = ["Both agents must belong to the institution."]
    if rater.pk == ratee.pk:
        errors["agent"] = ["An agent does not rate itself."]
    for name, value in (("positive", positive), ("negative", negative)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_EVIDENCE_COUNT:
            errors[name] = [f"A count between 0 and {MAX_EVIDENCE_COUNT:.0f}."]
    if not isinstance(source, str) or not source.strip() or len(source) > 200:
        errors["source"] = ["Say where the rating comes from, in at most 200 characters."]
    if errors:
        raise ValidationFailed(errors=errors)
    evidence = ReputationEvidence.objects.create(
        institution=institution,
        rater=rater,
        ratee=ratee,
        graph=graph,
        positive=float(positive),
        negative=float(negative),
        source=source.strip(),
    )
    audit_append(
        institution=institution,
        actor=actor,
        action="agents.reputation_evidence",
        target=evidence,
        changes={"rater": str(rater.uid), "ratee": str(ratee.uid), "graph": graph, "+": positive, "-": negative},
    )
    reputation_recompute_soon(institution_id=institution.pk)
    return evidence


def reputation_recompute_soon(*, institution_id: int) -> None:
    """Queue one recomputation after commit, unless one is already queued for this institution."""
    from apps.agents import tasks

    def queue() -> None:
        if cache.add(_pending_key(institution_id), 1, timeout=RECOMPUTE_DEBOUNCE_SECONDS * 6):
            tasks.reputation_recompute_task.apply_async(
                kwargs={"institution_id": institution_id, "trigger": "new evidence"},
                countdown=RECOMPUTE_DEBOUNCE_SECONDS,
            )

    transaction.on_commit(queue, robust=True)


@transaction.atomic
def reputation_recompute(*, institution: Institution, trigger: str) -> ReputationSnapshot | None:
    """EigenTrust over all the institution's evidence, stored as a new snapshot with an audit event.

    Returns None when nothing changed since the last snapshot (no new evidence, the same
    certified agents, the same agents): a snapshot is history, not a heartbeat."""
    cache.delete(_pending_key(institution.pk))
    # serialises recomputations of one institution: two workers must not both write one
    Institution.objects.select_for_update().get(pk=institution.pk)
    # tenancy: every query below filters on the institution explicitly (also run from beat)
    agents = dict(Agent.all_institutions.filter(institution=institution).values_list("pk", "uid"))
    certified = sorted(
        str(uid)
        for uid in Agent.all_institutions.filter(institution=institution, status=AgentStatus.CERTIFIED).values_list(
            "uid", flat=True
        )
    )
    evidence = ReputationEvidence.all_institutions.filter(institution=institution)
    upto = evidence.aggregate(upto=Max("pk"))["upto"] or 0
    last = ReputationSnapshot.all_institutions.filter(institution=institution).order_by("-pk").first()
    if last is not None and last.evidence_upto == upto and last.pretrusted == certified:
        scored = set(AgentReputation.all_institutions.filter(snapshot=last).values_list("agent_id", flat=True))
        if scored == set(agents):
            return None
    if not agents:
        return None
    # EigenTrust sums the records of a pair before clipping, so the database may sum them
    pairs = (
        evidence.filter(pk__lte=upto)
        .values("rater_id", "ratee_id", "graph")
        .annotate(positive=Sum("positive"), negative=Sum("negative"))
        .order_by()
    )
    records = [(p["rater_id"], p["ratee_id"], p["positive"], p["negative"], p["graph"]) for p in pairs]
    uid_to_pk = {str(uid): pk for pk, uid in agents.items()}
    result = eigentrust(
        Interactions.from_records(records),
        pretrusted=[uid_to_pk[u] for u in certified],
        agents=sorted(agents),
    )
    snapshot = ReputationSnapshot.objects.create(
        institution=institution,
        evidence_upto=upto,
        evidence_count=evidence.filter(pk__lte=upto).count(),
        pretrusted=certified,
        trigger=trigger[:20],
        iterations=result.iterations,
        converged=result.converged,
    )
    scores = sorted(result.as_dict().items(), key=lambda item: (-item[1], item[0]))
    AgentReputation.objects.bulk_create(
        AgentReputation(institution=institution, snapshot=snapshot, agent_id=pk, score=score, rank=rank)
        for rank, (pk, score) in enumerate(scores, start=1)
        if pk in agents
    )
    audit_append(
        institution=institution,
        actor=None,
        action="agents.reputation_recompute",
        target=snapshot,
        changes={
            "trigger": snapshot.trigger,
            "evidence_upto": upto,
            "evidence_count": snapshot.evidence_count,
            "pretrusted": certified,
            "scores": {str(agents[pk]): round(score, 9) for pk, score in scores if pk in agents},
            "converged": result.converged,
        },
    )
    return snapshot

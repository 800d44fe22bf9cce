"""Calibrating a cluster's flagging policy from council verdicts.

Two lessons are drawn automatically, and only in the safe direction (more flags, never fewer):
- an agent that the councils contradicted in at least half of its recent reviewed cases
  (at least `MIN_CASES` of them) is put on the cluster's watch list: every run it takes part
  in is flagged until an administrator takes it off;
- when a council changed a decision that stood unflagged (a sampled audit), the minimum
  confidence rises above that decision's confidence, so a like decision is flagged next time.
Loosening the policy is an administrator's decision (the cluster form), never the machine's.
`calibration_report` measures how many of the last N audited unflagged decisions a council
changed: the error rate of the decisions that stand, measured rather than assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from apps.agents.models import Agent, AgentProposalRecord, Cluster, ClusterRun
from apps.audit.services import audit_append

WINDOW = 50  # reviewed runs of the cluster looked at
MIN_CASES = 3
WATCH_RATE = 0.5
CONFIDENCE_MARGIN = 0.05
MAX_MIN_CONFIDENCE = 0.99


@dataclass(frozen=True)
class AgentRecord:
    agent: Agent
    reviewed: int
    contradicted: int

    @property
    def rate(self) -> float:
        return self.contradicted / self.reviewed if self.reviewed else 0.0


@dataclass(frozen=True)
class Report:
    window: int
    audited: int  # unflagged decisions sampled for audit that have a verdict
    changed: int  # ... that the council changed
    flagged_reviewed: int
    flagged_overturned: int
    agents: list[AgentRecord]

    @property
    def audited_error_rate(self) -> float | None:
        return self.changed / self.audited if self.audited else None


def _reviewed_runs(cluster: Cluster, window: int) -> list[ClusterRun]:
    # tenancy: the cluster's own runs
    runs = ClusterRun.all_institutions.filter(cluster=cluster).exclude(council_verdict={}).order_by("-pk")
    return list(runs[:window])


def calibration_report(*, cluster: Cluster, window: int = WINDOW) -> Report:
    runs = _reviewed_runs(cluster, window)
    audited = [r for r in runs if r.sampled_for_audit and not r.flagged]
    changed = [r for r in audited if r.final_decision != r.decision]
    flagged = [r for r in runs if r.flagged]
    overturned = [r for r in flagged if r.final_decision != r.decision]
    per_agent: dict[int, list[int]] = {}
    records = AgentProposalRecord.all_institutions.filter(run__in=runs, refused="").values_list(
        "run_id", "agent_id", "proposal"
    )
    final = {r.pk: r.final_decision for r in runs}
    for run_id, agent_id, proposal in records:
        proposed = (proposal or {}).get("decision")
        if not proposed or not final.get(run_id):
            continue
        seen = per_agent.setdefault(agent_id, [0, 0])
        seen[0] += 1
        seen[1] += proposed != final[run_id]
    agents = {a.pk: a for a in Agent.all_institutions.filter(pk__in=per_agent)}
    return Report(
        window=window,
        audited=len(audited),
        changed=len(changed),
        flagged_reviewed=len(flagged),
        flagged_overturned=len(overturned),
        agents=sorted(
            (AgentRecord(agents[pk], n, bad) for pk, (n, bad) in per_agent.items() if pk in agents),
            key=lambda a: (-a.rate, a.agent.name),
        ),
    )


@transaction.atomic
def learn_from_verdict(*, run: ClusterRun, item) -> dict:
    """Tighten the cluster's flagging policy after a verdict, if the evidence says so; returns the changes."""
    cluster = Cluster.all_institutions.select_for_update().get(pk=run.cluster_id)
    policy = dict(cluster.flagging_policy)
    report = calibration_report(cluster=cluster)
    changes: dict = {}
    watched = set(policy.get("watch_agents") or [])
    newly = sorted(
        str(a.agent.uid)
        for a in report.agents
        if a.reviewed >= MIN_CASES and a.rate >= WATCH_RATE and str(a.agent.uid) not in watched
    )
    if newly:
        policy["watch_agents"] = sorted(watched | set(newly))
        changes["watch_agents"] = newly
    if (
        run.sampled_for_audit
        and not run.flagged
        and run.final_decision != run.decision
        and run.confidence is not None
        and run.confidence + CONFIDENCE_MARGIN > float(policy.get("min_confidence", 0.0))
    ):
        raised = round(min(MAX_MIN_CONFIDENCE, run.confidence + CONFIDENCE_MARGIN), 4)
        if raised > float(policy.get("min_confidence", 0.0)):
            changes["min_confidence"] = [policy.get("min_confidence"), raised]
            policy["min_confidence"] = raised
    if changes:
        cluster.flagging_policy = policy
        cluster.save(update_fields=["flagging_policy", "updated_at"])
        audit_append(
            institution=cluster.institution,
            actor=None,
            action="agents.cluster_calibrate",
            target=cluster,
            changes={"after_item": item.pk, "run": run.pk, **changes},
        )
    return changes

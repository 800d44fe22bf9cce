"""Writes of clusters and their runs; the Celery tasks in apps/agents/tasks.py call these."""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from apps.agents.clusters import combine, flagging, listeners, live
from apps.agents.engines import EngineError, run_engine
from apps.agents.models import (
    Agent,
    AgentProposalRecord,
    Cluster,
    ClusterRun,
    ClusterRunStatus,
)
from apps.agents.proposals import Task
from apps.agents.reputation import selectors as reputation_selectors
from apps.agents.reputation import services as reputation_services
from apps.agents.selectors import agent_is_active
from apps.agents.services import _require_admin, clean_capabilities
from apps.agents.validation import validate
from apps.audit.canonical import canonical_json
from apps.audit.services import audit_append
from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey
from apps.identity.services import signing_key_sign
from apps.tenancy.models import Institution, Membership, Role
from apps.tenancy.selectors import roles_of
from portal.errors import PermissionDenied, ValidationFailed

logger = logging.getLogger(__name__)

MAX_STAGES = 20
MAX_AGENTS_PER_STAGE = 20
MAX_RECORD_BYTES = 200_000


def inputs_digest(*, task_type: str, record: Any, documents: Any) -> str:
    return hashlib.sha256(
        canonical_json({"task_type": task_type, "record": record, "documents": documents})
    ).hexdigest()


def _clean_stages(*, institution: Institution, stages: Any) -> list[dict]:
    if not isinstance(stages, list) or not stages or len(stages) > MAX_STAGES:
        raise ValidationFailed(errors={"stages": [f"Give between 1 and {MAX_STAGES} stages."]})
    cleaned, errors = [], []
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict) or set(stage) != {"name", "agents"}:
            errors.append(f"Stage {i + 1} must be {{'name': ..., 'agents': [...]}}.")
            continue
        name, agents = stage["name"], stage["agents"]
        if not isinstance(name, str) or not name.strip() or len(name) > 80:
            errors.append(f"Stage {i + 1} needs a name of at most 80 characters.")
        if not isinstance(agents, list) or not agents or len(agents) > MAX_AGENTS_PER_STAGE:
            errors.append(f"Stage {i + 1} needs between 1 and {MAX_AGENTS_PER_STAGE} agents.")
            continue
        uids = [str(a) for a in agents]
        # tenancy: explicit institution filter; another institution's agent reads as unknown
        known = {
            str(u)
            for u in Agent.all_institutions.filter(institution=institution, uid__in=_uuids(uids)).values_list(
                "uid", flat=True
            )
        }
        missing = [u for u in uids if u not in known]
        if missing:
            errors.append(f"Stage {i + 1}: unknown agents {', '.join(missing)}.")
        cleaned.append({"name": str(name).strip(), "agents": uids})
    if errors:
        raise ValidationFailed(errors={"stages": errors})
    return cleaned


def _uuids(values: list[str]) -> list[str]:
    import uuid

    out = []
    for v in values:
        try:
            out.append(str(uuid.UUID(v)))
        except ValueError:
            continue
    return out


def _clean_decisions(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > 20:
        raise ValidationFailed(errors={"allowed_decisions": ["Give between 1 and 20 decisions."]})
    if not all(isinstance(d, str) and d.strip() and len(d) <= 100 for d in value):
        raise ValidationFailed(errors={"allowed_decisions": ["Each decision is text of at most 100 characters."]})
    return list(dict.fromkeys(d.strip() for d in value))


@transaction.atomic
def cluster_create(
    *,
    institution: Institution,
    actor,
    name: str,
    task_type: str,
    stages: Any,
    allowed_decisions: Any,
    flagging_policy: Any = None,
) -> Cluster:
    """Create a cluster of the institution's agents (administrators).

    Raises: PermissionDenied, ValidationFailed."""
    _require_admin(actor=actor, institution=institution)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationFailed(errors={"name": ["A name of at most 200 characters is required."]})
    task_types = clean_capabilities([task_type])
    if Cluster.all_institutions.filter(institution=institution, name=name.strip()).exists():
        raise ValidationFailed(errors={"name": [_("Another cluster of this institution has this name.")]})
    cluster = Cluster.objects.create(
        institution=institution,
        name=name.strip(),
        task_type=task_types[0],
        stages=_clean_stages(institution=institution, stages=stages),
        allowed_decisions=_clean_decisions(allowed_decisions),
        flagging_policy=flagging.clean_policy(flagging_policy),
        created_by=actor,
    )
    audit_append(
        institution=institution,
        actor=actor,
        action="agents.cluster_create",
        target=cluster,
        changes={"name": cluster.name, "task_type": cluster.task_type, "stages": cluster.stages},
    )
    return cluster


@transaction.atomic
def cluster_update(
    *,
    cluster: Cluster,
    actor,
    name: str,
    task_type: str,
    stages: Any,
    allowed_decisions: Any,
    flagging_policy: Any = None,
) -> Cluster:
    """Change a cluster (administrators); runs already started keep the stages they began with.

    Raises: PermissionDenied, ValidationFailed."""
    _require_admin(actor=actor, institution=cluster.institution)
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationFailed(errors={"name": ["A name of at most 200 characters is required."]})
    if (
        Cluster.all_institutions.filter(institution=cluster.institution, name=name.strip())
        .exclude(pk=cluster.pk)
        .exists()
    ):
        raise ValidationFailed(errors={"name": [_("Another cluster of this institution has this name.")]})
    before = {f: getattr(cluster, f) for f in ("name", "task_type", "stages", "allowed_decisions", "flagging_policy")}
    cluster.name = name.strip()
    cluster.task_type = clean_capabilities([task_type])[0]
    cluster.stages = _clean_stages(institution=cluster.institution, stages=stages)
    cluster.allowed_decisions = _clean_decisions(allowed_decisions)
    cluster.flagging_policy = flagging.clean_policy(flagging_policy)
    cluster.save()
    after = {f: getattr(cluster, f) for f in before}
    audit_append(
        institution=cluster.institution,
        actor=actor,
        action="agents.cluster_update",
        target=cluster,
        changes={f: [before[f], after[f]] for f in before if before[f] != after[f]},
    )
    return cluster


@transaction.atomic
def cluster_run_start(*, cluster: Cluster, record: Any, documents: Any, actor, concerns=None) -> ClusterRun:
    """Queue a task for a cluster (civil servants and administrators, or the node itself);
    its stages run as Celery tasks after commit.

    Raises: PermissionDenied, ValidationFailed."""
    from apps.agents import tasks

    if actor is not None and (
        isinstance(actor, str)
        or not roles_of(user=actor, institution=cluster.institution) & {Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN}
    ):
        raise PermissionDenied(_("Only civil servants and administrators put tasks to a cluster."))

    if not isinstance(record, dict):
        raise ValidationFailed(errors={"record": ["The record must be an object."]})
    if concerns is not None and not Membership.objects.filter(institution=cluster.institution, user=concerns).exists():
        raise ValidationFailed(errors={"concerns": [_("The person concerned must be a member of the institution.")]})
    if documents is None:
        documents = {}
    if not isinstance(documents, dict):
        raise ValidationFailed(errors={"documents": ["The documents must be an object."]})
    try:
        size = len(canonical_json({"record": record, "documents": documents}))
    except (TypeError, ValueError):
        raise ValidationFailed(errors={"record": ["The record must be plain JSON."]}) from None
    if size > MAX_RECORD_BYTES:
        raise ValidationFailed(errors={"record": [f"The record is larger than {MAX_RECORD_BYTES} bytes."]})
    run = ClusterRun.objects.create(
        institution=cluster.institution,
        cluster=cluster,
        task_type=cluster.task_type,
        record=record,
        documents=documents,
        inputs_digest=inputs_digest(task_type=cluster.task_type, record=record, documents=documents),
        stage_count=len(cluster.stages),
        cluster_snapshot={
            "stages": cluster.stages,
            "allowed_decisions": cluster.allowed_decisions,
            "flagging_policy": cluster.flagging_policy,
        },
        submitted_by=actor if getattr(actor, "pk", None) else None,
        concerns=concerns,
    )
    audit_append(
        institution=cluster.institution,
        actor=actor,
        action="agents.cluster_run_start",
        target=run,
        changes={"cluster": cluster.pk, "inputs_digest": run.inputs_digest},
    )
    run_id, institution_id = run.pk, cluster.institution_id
    transaction.on_commit(
        lambda: tasks.cluster_stage.delay(run_id=run_id, stage_index=0, institution_id=institution_id)
    )
    return run


def _refusal(*, agent: Agent, run: ClusterRun) -> str:
    """Why this agent may not act in this run, or ''. Checked before and after its engine runs."""
    if agent.institution_id != run.institution_id:
        return "other_institution"
    if not agent_is_active(agent):
        return "inactive"
    if run.task_type not in (agent.capabilities or []):
        return "capability_missing"
    return ""


def _agent_key(agent: Agent) -> SigningKey:
    return SigningKey.objects.get(owner_type=KeyOwnerType.AGENT, owner_id=str(agent.uid), status=KeyStatus.ACTIVE)


def proposal_signing_message(*, run_id: int, stage_index: int, agent_uid: str, proposal: dict) -> bytes:
    return canonical_json({"run": run_id, "stage": stage_index, "agent": agent_uid, "proposal": proposal})


def _record(run: ClusterRun, agent: Agent, stage_index: int, stage_name: str, **fields) -> None:
    try:
        with transaction.atomic():
            record = AgentProposalRecord.objects.create(
                institution=run.institution,
                run=run,
                agent=agent,
                stage_index=stage_index,
                stage_name=stage_name,
                **fields,
            )
            audit_append(
                institution=run.institution,
                actor=agent,
                action="agents.run.proposal",
                target=record,
                changes={"run": run.pk, "stage": stage_index, "refused": fields.get("refused", "")},
            )
            live.broadcast_run(run, event="proposal")
    except IntegrityError:
        # a re-delivered stage: this agent's proposal for the stage is already stored
        pass


def cluster_stage_execute(*, run: ClusterRun, stage_index: int) -> bool:
    """Run every agent of one stage; returns whether the run goes on (false once finished).

    Idempotent: an agent that already has a record for this stage is not run again."""
    with transaction.atomic():
        run = ClusterRun.objects.select_for_update().get(pk=run.pk)
        if run.finished or stage_index < run.progress:
            return False
        if run.status == ClusterRunStatus.QUEUED:
            run.transition_to(ClusterRunStatus.RUNNING)
            run.save(update_fields=["status"])
            audit_append(institution=run.institution, actor=None, action="agents.run.running", target=run)
    stage = run.cluster_snapshot["stages"][stage_index]
    done = set(
        AgentProposalRecord.objects.filter(run=run, stage_index=stage_index).values_list("agent__uid", flat=True)
    )
    # tenancy: a stage may name an agent of another institution (a tampered cluster): it is
    # found, so that it can be refused and recorded, never run
    agents = {str(a.uid): a for a in Agent.all_institutions.filter(uid__in=_uuids(stage["agents"]))}
    task = Task(task_type=run.task_type, record=run.record, documents=run.documents, institution_id=run.institution_id)
    for uid in stage["agents"]:
        agent = agents.get(uid)
        if agent is None or agent.uid in done:
            continue
        _agent_act(run=run, agent=agent, task=task, stage_index=stage_index, stage_name=stage["name"])
    with transaction.atomic():
        run = ClusterRun.objects.select_for_update().get(pk=run.pk)
        if run.progress <= stage_index:
            run.progress = stage_index + 1
            run.save(update_fields=["progress"])
            live.broadcast_run(run, event="progress")
    return run.progress < run.stage_count


def _agent_act(*, run: ClusterRun, agent: Agent, task: Task, stage_index: int, stage_name: str) -> None:
    refused = _refusal(agent=agent, run=run)
    if refused:
        _record(run, agent, stage_index, stage_name, refused=refused, note="refused before its engine ran")
        return
    try:
        proposal = run_engine(agent.engine, task, agent.config)
    except EngineError as exc:
        _record(run, agent, stage_index, stage_name, refused="engine_error", note=exc.message[:2000])
        return
    # the kill switch and the scope are checked again: a suspension during the engine's
    # work stops this proposal, whatever the engine returned
    refused = _refusal(agent=agent, run=run)
    if not refused and proposal.decision not in run.cluster_snapshot["allowed_decisions"]:
        refused = "decision_not_allowed"
    data = proposal.to_dict()
    if refused:
        _record(
            run, agent, stage_index, stage_name, refused=refused, proposal=data, note="refused after its engine ran"
        )
        return
    key = _agent_key(agent)
    signature = signing_key_sign(
        key=key,
        message=proposal_signing_message(
            run_id=run.pk, stage_index=stage_index, agent_uid=str(agent.uid), proposal=data
        ),
    )
    report = validate(
        proposal,
        task,
        rules=agent.config.get("rules") if agent.engine == "rules" else None,
        precedents=agent.config.get("corpus") if agent.engine == "precedent" else None,
    )
    _record(
        run,
        agent,
        stage_index,
        stage_name,
        proposal=data,
        signature=base64.b64encode(signature).decode(),
        key_id=key.key_id,
        findings=[f.to_dict() for f in report.findings],
        accepted=report.accepted,
    )


@transaction.atomic
def cluster_run_finalise(*, run: ClusterRun) -> ClusterRun:
    """Combine, flag, and write the decision record to the audit log. Idempotent."""
    run = ClusterRun.objects.select_for_update().select_related("cluster").get(pk=run.pk)
    if run.finished:
        return run
    records = list(AgentProposalRecord.objects.filter(run=run).select_related("agent"))
    accepted = [r for r in records if r.accepted]
    rejected = [r for r in records if not r.refused and not r.accepted]
    # an inactive agent (suspended mid-run) is skipped, not an out-of-scope attempt
    refused = [r for r in records if r.refused and r.refused not in {"engine_error", "inactive"}]
    # the latest stored reputation: recomputing EigenTrust over all history here would make
    # every decision slower as the history grows
    weights, snapshot = reputation_selectors.run_weights(
        institution=run.institution, agent_ids=sorted({r.agent_id for r in accepted})
    )
    votes = [(str(r.agent_id), r.proposal["decision"], float(r.proposal["confidence"])) for r in accepted]
    combined = combine.weighted_vote(votes, weights)
    reasons = flagging.flag_reasons(
        policy=run.cluster_snapshot["flagging_policy"],
        record=run.record,
        confidence=combined.confidence,
        disagreement=combined.disagreement,
        rejected=len(rejected),
        refused=len(refused),
        participants=tuple(str(r.agent.uid) for r in records if not r.refused),
    )
    run.decision = combined.decision
    run.confidence = combined.confidence
    run.flagged = bool(reasons)
    run.reasons = reasons
    run.weights = weights
    run.reputation_snapshot = snapshot
    run.final_decision = "" if reasons else run.decision
    run.sampled_for_audit = not reasons and flagging.sampled_for_audit(
        policy=run.cluster_snapshot["flagging_policy"], inputs_digest=run.inputs_digest, run_id=run.pk
    )
    run.transition_to(ClusterRunStatus.FLAGGED if reasons else ClusterRunStatus.DECIDED)
    run.save()
    audit_append(
        institution=run.institution,
        actor=None,
        action="agents.cluster_run_decide",
        target=run,
        changes={
            "inputs_digest": run.inputs_digest,
            "proposals": [
                {
                    "agent": str(r.agent.uid),
                    "did": r.agent.did,
                    "stage": r.stage_name,
                    "proposal": r.proposal,
                    "signature": r.signature,
                    "key_id": r.key_id,
                    "findings": r.findings,
                    "accepted": r.accepted,
                    "refused": r.refused,
                }
                for r in records
            ],
            "weights": weights,
            "reputation_snapshot": snapshot.pk if snapshot else None,
            "outcome": {
                "decision": run.decision,
                "confidence": run.confidence,
                "disagreement": combined.disagreement,
                "flagged": run.flagged,
                "reasons": reasons,
                "sampled_for_audit": run.sampled_for_audit,
            },
        },
    )
    if run.flagged or run.sampled_for_audit:
        from apps.agents import tasks

        run_id, institution_id = run.pk, run.institution_id
        transaction.on_commit(
            lambda: tasks.cluster_run_to_council_task.delay(run_id=run_id, institution_id=institution_id),
            robust=True,
        )
    live.broadcast_run(run, event="finished")
    listeners.run_changed(run=run, event="finished")
    reputation_services.reputation_evidence_from_run(run=run, records=records)
    from apps.notifications.services import notification_send

    if run.submitted_by_id:
        notification_send(
            institution=run.institution,
            recipient=run.submitted_by,
            title=_("Cluster run %(id)s: %(outcome)s")
            % {"id": run.pk, "outcome": _("flagged for review") if run.flagged else run.decision},
            url=f"/i/{run.institution.slug}/agents/runs/{run.pk}/",
        )
    if run.concerns_id:
        notification_send(
            institution=run.institution,
            recipient=run.concerns,
            title=_("A council will review the decision on your case")
            if run.flagged
            else _("A decision was made on your case"),
            url=f"/i/{run.institution.slug}/agents/my-decisions/{run.pk}/",
        )
    return run


@transaction.atomic
def cluster_run_fail(*, run: ClusterRun, error: str) -> ClusterRun:
    run = ClusterRun.objects.select_for_update().get(pk=run.pk)
    if run.finished:
        return run
    if run.status == ClusterRunStatus.QUEUED:
        run.transition_to(ClusterRunStatus.RUNNING)
    run.transition_to(ClusterRunStatus.FAILED)
    run.error = error[:2000]
    run.save()
    audit_append(
        institution=run.institution,
        actor=None,
        action="agents.cluster_run_fail",
        target=run,
        changes={"error": run.error},
    )
    live.broadcast_run(run, event="finished")
    listeners.run_changed(run=run, event="finished")
    return run


@transaction.atomic
def cluster_run_apply_verdict(*, run: ClusterRun, verdict: dict, actor=None) -> ClusterRun:
    """Attach a council's verdict to a flagged (or audited) run; its decision becomes final.

    `verdict`: {"item", "council", "verdict", "decision", "reasons", "dissent"}. Idempotent
    for the same item. Raises: InvalidTransition (the run is not finished, or already has
    another verdict)."""
    from portal.errors import InvalidTransition

    run = ClusterRun.objects.select_for_update().get(pk=run.pk)
    if run.status not in {ClusterRunStatus.FLAGGED, ClusterRunStatus.DECIDED}:
        raise InvalidTransition(_("Only a decided or flagged run takes a council's verdict."))
    if run.council_verdict:
        if run.council_verdict.get("item") == verdict.get("item"):
            return run
        # an appeal's verdict is the last word; it keeps the verdict it replaces
        if verdict.get("kind") != "appeal" or run.council_verdict.get("kind") == "appeal":
            raise InvalidTransition(_("This run already has a council's verdict."))
        verdict = {**verdict, "previous": run.council_verdict}
    run.council_verdict = verdict
    run.final_decision = verdict.get("decision") or ""
    run.save(update_fields=["council_verdict", "final_decision"])
    audit_append(
        institution=run.institution,
        actor=actor,
        action="agents.cluster_run_verdict",
        target=run,
        changes={"verdict": verdict, "final_decision": run.final_decision, "decided_by_agents": run.decision},
    )
    live.broadcast_run(run, event="verdict")
    listeners.run_changed(run=run, event="verdict")
    return run

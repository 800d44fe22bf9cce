"""Cluster runs before councils: the agents domain's review subject (apps.feedback.subjects).

A flagged run (or an unflagged one sampled for audit) is put before the council whose
mandate covers its task type, with the case as the agents saw it. The verdict comes back
through `apply`, which calls the clusters service; `learn` turns it into evidence.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from apps.agents.clusters import services as cluster_services
from apps.agents.models import AgentProposalRecord, ClusterRun, ClusterRunStatus
from apps.feedback.subjects import ReviewSubject, register_subject

logger = logging.getLogger(__name__)

SUBJECT_TYPE = "agents.cluster_run"


def impact_of(run: ClusterRun) -> str:
    return "high" if any(reason.startswith("High impact") for reason in run.reasons) else "medium"


def question_of(run: ClusterRun) -> str:
    if run.flagged:
        return _(
            "The agents propose “%(decision)s” on this %(task_type)s case, but flagged it for people to decide: "
            "%(reasons)s Do you approve the proposed decision, reject it, or amend it?"
        ) % {"decision": run.decision or _("no decision"), "task_type": run.task_type, "reasons": " ".join(run.reasons)}
    return _(
        "This %(task_type)s case was decided “%(decision)s” by the agents without a flag; it was drawn for an audit. "
        "Would you have decided the same?"
    ) % {"decision": run.decision, "task_type": run.task_type}


def case_of(run: ClusterRun) -> dict:
    """What a reviewer sees: the record, each agent's proposal with its claims and evidence, the
    validator's findings, the reputation weights — as stored when the agents decided."""
    # tenancy: the run's own records, read from a Celery task in the run's scope
    records = AgentProposalRecord.all_institutions.filter(run=run).select_related("agent").order_by("stage_index", "pk")
    return {
        "run": run.pk,
        "cluster": run.cluster.name,
        "record": run.record,
        "documents": run.documents,
        "inputs_digest": run.inputs_digest,
        "decision": run.decision,
        "confidence": run.confidence,
        "reasons": run.reasons,
        "proposals": [
            {
                "agent": r.agent.name,
                "agent_uid": str(r.agent.uid),
                "agent_pk": r.agent_id,
                "stage": r.stage_name,
                "decision": (r.proposal or {}).get("decision", ""),
                "confidence": (r.proposal or {}).get("confidence"),
                "explanation": (r.proposal or {}).get("explanation", ""),
                "claims": (r.proposal or {}).get("claims", []),
                "findings": r.findings,
                "accepted": r.accepted,
                "refused": r.refused,
                "weight": run.weights.get(str(r.agent_id)),
            }
            for r in records
        ],
    }


def submit_run_for_review(*, run: ClusterRun):
    """Put a flagged or sampled run before its council. Without a covering council the run
    stays flagged, and the institution's administrators are told.

    Returns the review item, or None."""
    from apps.feedback import services as feedback_services
    from apps.feedback.models import ItemKind

    if run.status not in {ClusterRunStatus.FLAGGED, ClusterRunStatus.DECIDED} or run.council_verdict:
        return None
    try:
        with transaction.atomic():
            return feedback_services.review_item_submit(
                institution=run.institution,
                kind=ItemKind.FLAGGED_DECISION if run.flagged else ItemKind.SAMPLED_AUDIT,
                subject_type=SUBJECT_TYPE,
                subject_id=run.pk,
                task_type=run.task_type,
                impact=impact_of(run),
                question=question_of(run),
                proposed_decision=run.decision,
                allowed_decisions=run.cluster_snapshot.get("allowed_decisions", []),
                case=case_of(run),
                citizen=run.concerns,
            )
    except feedback_services.NoCouncilCovers as error:
        with transaction.atomic():
            from apps.audit.services import audit_append
            from apps.feedback.notify import tell
            from apps.feedback.services import _admins

            audit_append(
                institution=run.institution,
                actor=None,
                action="agents.cluster_run_unreviewed",
                target=run,
                changes={"reason": error.message},
            )
            tell(
                institution=run.institution,
                people=_admins(run.institution),
                title=_("A flagged decision has no council to review it"),
                body=error.message,
                url=f"/i/{run.institution.slug}/agents/runs/{run.pk}/",
            )
        return None


def appeal_of(*, run: ClusterRun):
    """The appeal of this run, wherever the council that hears it sits (its own or a shared one)."""
    from apps.feedback.models import ItemKind, ReviewItem

    # tenancy: the run's items, by subject; a shared council's item is another institution's row
    return ReviewItem.all_institutions.filter(
        subject_type=SUBJECT_TYPE, subject_id=str(run.pk), kind=ItemKind.APPEAL
    ).first()


@transaction.atomic
def cluster_run_appeal(*, run: ClusterRun, person, grounds: str):
    """The person a decision concerns appeals it to the council; once per run.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition, Conflict, NoCouncilCovers."""
    from apps.audit.services import audit_append
    from apps.feedback import services as feedback_services
    from apps.feedback.models import ItemKind
    from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed

    if person is None or run.concerns_id != person.pk:
        raise PermissionDenied(_("Only the person the decision concerns can appeal it."))
    from apps.agents.clusters.listeners import case_page

    if case_page(run=run):
        raise Conflict(_("This decision is part of a case with its own page: appeal from there."))
    if not run.final_decision:
        raise InvalidTransition(_("There is no final decision to appeal yet: a council is still reviewing it."))
    grounds = str(grounds or "").strip()
    if not grounds or len(grounds) > 5000:
        raise ValidationFailed(
            errors={"grounds": [_("Say why you think the decision is wrong (at most 5000 characters).")]}
        )
    if appeal_of(run=run) is not None:
        raise Conflict(_("You have already appealed this decision."))
    case = case_of(run)
    case["appeal"] = {"grounds": grounds, "council_verdict": run.council_verdict}
    item = feedback_services.review_item_submit(
        institution=run.institution,
        kind=ItemKind.APPEAL,
        subject_type=SUBJECT_TYPE,
        subject_id=run.pk,
        task_type=run.task_type,
        impact=impact_of(run),
        question=_(
            "The person concerned appeals the decision “%(decision)s” on this %(task_type)s case. Their grounds: "
            "“%(grounds)s”. Do you uphold the decision (approve), overturn it (reject), or amend it?"
        )
        % {"decision": run.final_decision, "task_type": run.task_type, "grounds": grounds[:1500]},
        proposed_decision=run.final_decision,
        allowed_decisions=run.cluster_snapshot.get("allowed_decisions", []),
        case=case,
        citizen=person,
        actor=person,
    )
    audit_append(
        institution=run.institution,
        actor=person,
        action="agents.cluster_run_appeal",
        target=run,
        changes={"item": item.pk, "grounds": grounds},
    )
    return item


def apply(*, item, actor=None) -> None:
    """Raises: ApplicationError (the run cannot take the verdict)."""
    # tenancy: the item's subject, in the institution whose case it is (a shared council's
    # item is the council's row; the run is the case owner's)
    run = ClusterRun.all_institutions.get(pk=int(item.subject_id), institution=item.owner_of_case)
    cluster_services.cluster_run_apply_verdict(
        run=run,
        verdict={
            "item": item.pk,
            "kind": item.kind,
            "council": item.council.name,
            "verdict": item.verdict,
            "decision": item.verdict_decision,
            "reasons": item.verdict_reasons,
            "dissent": item.dissent,
        },
        actor=actor,
    )


def learn(*, item) -> None:
    """Each verdict labels the agents' proposals: agreement with it is evidence in the council graph."""
    from apps.agents.clusters import calibration
    from apps.agents.learning import services as learning_services
    from apps.agents.reputation import services as reputation_services

    run = ClusterRun.all_institutions.get(pk=int(item.subject_id), institution=item.owner_of_case)
    reputation_services.reputation_evidence_from_verdict(run=run, decision=item.verdict_decision, item_id=item.pk)
    calibration.learn_from_verdict(run=run, item=item)
    learning_services.training_examples_from_verdict(run=run, item=item)  # labels for the small models


def citizen_url(*, item) -> str:
    return f"/i/{item.owner_of_case.slug}/agents/my-decisions/{item.subject_id}/"


def register() -> None:
    register_subject(
        ReviewSubject(
            type=SUBJECT_TYPE,
            label="Agent cluster decision",
            apply=apply,
            learn=learn,
            citizen_url=citizen_url,
        )
    )

"""Enforcement of issued permits: inspections rated for risk by the agents and reported by inspectors,
violations with a deadline to cure, and the suspension an uncured violation brings (through the
credential's status list, so any verifier sees it at once).

Each write: its permission check, the guarded transition, the audit event, in one transaction; the
holder is told what they would expect to hear (violations found, deadlines passed, cures). Reads take
the institution, as in `selectors.py`."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.models import AuditEvent
from apps.audit.services import audit_append
from apps.identity.credentials import services as credential_services
from apps.notifications.services import notification_send
from apps.permits import process, schema, services
from apps.permits.models import (
    Inspection,
    InspectionKind,
    InspectionOutcome,
    InspectionStatus,
    Permit,
    PermitStatus,
    Risk,
    Violation,
    ViolationStatus,
)
from apps.tenancy.models import Role
from apps.tenancy.scope import institution_scope
from apps.tenancy.selectors import roles_of
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed

# days until an inspection is due, by the risk the agents rate (no agents: medium)
RISK_DAYS = {Risk.HIGH: 7, Risk.MEDIUM: 30, Risk.LOW: 90}
# a follow-up checks a cure: soon, whatever the risk
FOLLOW_UP_DAYS = 7
# inspectors: they report, confirm cures and assign themselves
INSPECTOR_ROLES = frozenset({Role.CIVIL_SERVANT})
# who schedules, assigns and cancels inspections
SCHEDULER_ROLES = frozenset({Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN})
# who waives a violation
WAIVER_ROLES = frozenset({Role.INSTITUTION_ADMIN})
OPEN_INSPECTION = frozenset({InspectionStatus.ASSESSING, InspectionStatus.SCHEDULED})
UNRESOLVED = frozenset({ViolationStatus.OPEN, ViolationStatus.OVERDUE})
# the audit action of the node's suspension for overdue violations: only such a suspension is lifted
# by the cure of the last overdue violation (an administrator's own suspension stays)
SUSPEND_FOR_VIOLATIONS = "permits.permit.suspend_violations"
SUSPEND_ACTIONS = ("permits.permit.suspend", SUSPEND_FOR_VIOLATIONS)
# at most this many routine inspections scheduled per beat run; the next run takes the rest
DUE_SWEEP_BATCH = 200
NOTE_MAX_CHARS = services.REASON_MAX_CHARS


def _today() -> dt.date:
    return timezone.localdate()


def _require(actor, institution, roles: frozenset, message: str) -> None:
    services._require(actor=actor, institution=institution, roles=roles, message=message)


def _permit_url(permit: Permit) -> str:
    return f"/i/{permit.institution.slug}/permits/permits/{permit.pk}/"


def _tell_holder(permit: Permit, title: str, body: str = "", actor=None) -> None:
    notification_send(
        institution=permit.institution,
        recipient=permit.holder,
        title=title,
        body=body,
        url=_permit_url(permit),
        actor=actor,
    )


def _state(inspection: Inspection) -> dict:
    return {
        "status": inspection.status,
        "kind": inspection.kind,
        "risk": inspection.risk,
        "due_on": inspection.due_on.isoformat() if inspection.due_on else None,
        "inspector": inspection.inspector_id,
    }


# --- reads ---------------------------------------------------------------------------------------


def _inspections(institution) -> QuerySet[Inspection]:
    return Inspection.all_institutions.filter(institution=institution).select_related(  # tenancy: explicit
        "permit", "permit__permit_type", "permit__holder", "inspector", "institution"
    )


def inspections_of_institution(
    *, institution, status: str = "", inspector=None, due_by: dt.date | None = None
) -> QuerySet[Inspection]:
    qs = _inspections(institution)
    if status:
        qs = qs.filter(status=status)
    if inspector is not None:
        qs = qs.filter(inspector=inspector)
    if due_by is not None:
        qs = qs.filter(status=InspectionStatus.SCHEDULED, due_on__lte=due_by)
    return qs.order_by("due_on", "pk")


def inspections_of_permit(*, permit: Permit) -> QuerySet[Inspection]:
    return _inspections(permit.institution_id).filter(permit=permit).order_by("-created_at", "-pk")


def inspection_get(*, institution, inspection_id: int) -> Inspection:
    """Raises: Http404."""
    found = _inspections(institution).filter(pk=inspection_id).first()
    if found is None:
        raise Http404
    return found


def _violations(institution) -> QuerySet[Violation]:
    return Violation.all_institutions.filter(institution=institution).select_related(  # tenancy: explicit
        "permit", "permit__permit_type", "permit__holder", "institution", "resolved_by"
    )


def violations_of_institution(*, institution, status: str = "") -> QuerySet[Violation]:
    qs = _violations(institution)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("cure_by", "pk")


def violations_of_permit(*, permit: Permit) -> QuerySet[Violation]:
    return _violations(permit.institution_id).filter(permit=permit).order_by("-created_at", "-pk")


def violation_get(*, institution, violation_id: int) -> Violation:
    """Raises: Http404."""
    found = _violations(institution).filter(pk=violation_id).first()
    if found is None:
        raise Http404
    return found


def inspection_record(permit: Permit) -> dict:
    """What the risk agents see: the application's answers at the top level, the permit under `permit`."""
    application = permit.application
    counts = Violation.all_institutions.filter(permit=permit).aggregate(  # tenancy: the permit's own
        total=Count("pk"),
        unresolved=Count("pk", filter=Q(status__in=UNRESOLVED)),
        overdue=Count("pk", filter=Q(status=ViolationStatus.OVERDUE)),
    )
    return {
        **schema.answers_for_agents(fields=permit.permit_type.fields, answers=application.data),
        "permit": {
            "type": permit.permit_type.slug,
            "permit": str(permit.uuid),
            "application": str(application.uuid),
            "status": permit.status,
            "valid_until": permit.valid_until.date().isoformat(),
            "conditions": list(permit.permit_type.conditions),
            "violations": counts,
            "renewal": application.renews_id is not None,
        },
    }


# --- scheduling ------------------------------------------------------------------------------------


def _locked(inspection: Inspection) -> Inspection:
    return (
        Inspection.all_institutions.select_for_update()  # tenancy: the row given
        .select_related("permit", "permit__permit_type", "permit__holder", "institution")
        .get(pk=inspection.pk)
    )


def _schedule_at(inspection: Inspection, *, risk: str, reason: str, days: int) -> None:
    inspection.transition_to(InspectionStatus.SCHEDULED)
    inspection.risk = risk
    inspection.risk_reason = reason[: services.REASON_MAX_CHARS]
    inspection.due_on = _today() + dt.timedelta(days=days)


@transaction.atomic
def inspection_schedule(*, permit: Permit, kind: str, actor) -> Inspection:
    """Schedule an inspection of an active permit (a follow-up also of a suspended one): rated for risk by
    the type's inspection cluster (due by that risk once the run finishes), or medium at once without one;
    a follow-up is due within FOLLOW_UP_DAYS. `actor` None is the node (beat, the BPM process).

    Raises: PermissionDenied, ValidationFailed, InvalidTransition, Conflict."""
    if actor is not None:
        _require(
            actor,
            permit.institution,
            SCHEDULER_ROLES,
            _("Only the institution's civil servants and administrators schedule inspections."),
        )
    if kind not in InspectionKind.values:
        raise ValidationFailed(errors={"kind": [_("Choose a routine inspection or a follow-up.")]})
    permit = services._permit_locked(permit)
    allowed = {PermitStatus.ACTIVE} | ({PermitStatus.SUSPENDED} if kind == InspectionKind.FOLLOW_UP else set())
    if permit.status not in allowed:
        raise InvalidTransition(_("Only an active permit is inspected; a suspended one only to follow up a violation."))
    # one open inspection of each kind (the process's own steps excepted: each waits on its own)
    if (
        kind != InspectionKind.PROCESS
        and Inspection.all_institutions.filter(  # tenancy: the permit's own
            permit=permit, kind=kind, status__in=OPEN_INSPECTION
        ).exists()
    ):
        raise Conflict(_("An inspection of this kind is already scheduled for this permit."))
    inspection = Inspection.all_institutions.create(  # tenancy: the permit's institution
        institution=permit.institution, permit=permit, kind=kind
    )
    permit_type = permit.permit_type
    if kind == InspectionKind.FOLLOW_UP:
        _schedule_at(
            inspection,
            risk="",
            reason=_("A follow-up of a violation is due within %(n)s days.") % {"n": FOLLOW_UP_DAYS},
            days=FOLLOW_UP_DAYS,
        )
    elif permit_type.inspection_cluster_id:
        from apps.agents.clusters import services as cluster_services

        try:
            with transaction.atomic():
                inspection.risk_run = cluster_services.cluster_run_start(
                    cluster=permit_type.inspection_cluster,
                    record=inspection_record(permit),
                    documents={},
                    actor=None,
                    concerns=permit.holder,
                )
        except (ValidationFailed, PermissionDenied) as error:
            _schedule_at(
                inspection,
                risk=Risk.HIGH,
                reason=_("The agents could not rate the risk (%(error)s); high, the cautious choice.")
                % {"error": error.message},
                days=RISK_DAYS[Risk.HIGH],
            )
    else:
        _schedule_at(
            inspection,
            risk=Risk.MEDIUM,
            reason=_("No agents rate this permit type's risk; medium by default."),
            days=RISK_DAYS[Risk.MEDIUM],
        )
    inspection.save()
    audit_append(
        institution=permit.institution,
        actor=actor,
        action="permits.inspection.schedule",
        target=inspection,
        changes={**_state(inspection), "permit": permit.pk, "run": inspection.risk_run_id},
    )
    return inspection


def _rating(run) -> tuple[str, str]:
    """The risk a finished run gives, and why; anything but a clear high/medium/low is high."""
    from apps.agents.models import ClusterRunStatus

    cautious = _("high, the cautious choice")
    if run.status == ClusterRunStatus.FAILED:
        return Risk.HIGH, _("The agents could not rate the risk; %(choice)s.") % {"choice": cautious}
    if run.final_decision in Risk.values:
        return run.final_decision, _("Rated by the agents: %(risk)s (confidence %(confidence)s%%).") % {
            "risk": Risk(run.final_decision).label,
            "confidence": round((run.confidence or 0) * 100),
        }
    if run.status == ClusterRunStatus.FLAGGED:
        return Risk.HIGH, _("The agents' rating was flagged for review (%(reasons)s); %(choice)s.") % {
            "reasons": "; ".join(str(r) for r in run.reasons) or "—",
            "choice": cautious,
        }
    return Risk.HIGH, _("The agents answered “%(decision)s”, not a risk level; %(choice)s.") % {
        "decision": run.final_decision or run.decision or "—",
        "choice": cautious,
    }


@transaction.atomic
def inspection_follow_risk_run(*, run) -> Inspection | None:
    """Schedule the inspection a finished risk run rated (the node acts). Idempotent: only an inspection
    still being assessed moves."""
    found = Inspection.all_institutions.filter(  # tenancy: the run's institution, explicitly
        institution_id=run.institution_id, risk_run_id=run.pk
    ).first()
    if found is None or not run.finished:
        return found
    inspection = _locked(found)
    if inspection.status != InspectionStatus.ASSESSING:
        return inspection
    risk, reason = _rating(run)
    _schedule_at(inspection, risk=risk, reason=reason, days=RISK_DAYS[risk])
    inspection.save()
    audit_append(
        institution=inspection.institution,
        actor=None,
        action="permits.inspection.risk_rated",
        target=inspection,
        changes={**_state(inspection), "run": run.pk, "reason": inspection.risk_reason},
    )
    return inspection


@transaction.atomic
def inspection_assign(*, inspection: Inspection, actor, inspector) -> Inspection:
    """A civil servant takes an inspection; an administrator gives it to a civil servant.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    institution = inspection.institution
    _require(actor, institution, SCHEDULER_ROLES, _("Only civil servants and administrators assign inspections."))
    is_admin = bool(roles_of(user=actor, institution=institution) & {Role.INSTITUTION_ADMIN})
    if inspector is None or not roles_of(user=inspector, institution=institution) & INSPECTOR_ROLES:
        raise ValidationFailed(errors={"inspector": [_("Choose one of the institution's civil servants.")]})
    if not is_admin and inspector.pk != actor.pk:
        raise PermissionDenied(_("Civil servants take inspections themselves; administrators assign them."))
    inspection = _locked(inspection)
    if inspection.status not in OPEN_INSPECTION:
        raise InvalidTransition(_("Only an inspection not yet done is assigned."))
    previous = inspection.inspector_id
    inspection.inspector = inspector
    inspection.save(update_fields=["inspector"])
    audit_append(
        institution=institution,
        actor=actor,
        action="permits.inspection.assign",
        target=inspection,
        changes={"inspector": [previous, inspector.pk]},
    )
    if inspector.pk != actor.pk:
        notification_send(
            institution=institution,
            recipient=inspector,
            title=_("An inspection was assigned to you"),
            body=str(inspection.permit),
            url=f"/i/{institution.slug}/permits/inspections/{inspection.pk}/",
            actor=actor,
        )
    return inspection


# --- reporting -------------------------------------------------------------------------------------


def clean_findings(*, conditions: list[str], findings) -> list[dict]:
    """One finding per condition, in the conditions' order. Errors under `condition_<i>` (met or not),
    `note_<i>` (a note is needed for an unmet condition) and `findings` (unknown or repeated conditions),
    the names of the report form's fields.

    Raises: ValidationFailed."""
    errors: dict[str, list[str]] = {}
    if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
        raise ValidationFailed(errors={"findings": [_("Give one finding per condition.")]})
    given: dict[str, dict] = {}
    for finding in findings:
        condition = str(finding.get("condition") or "").strip()
        if condition not in conditions:
            errors.setdefault("findings", []).append(
                _("“%(condition)s” is not a condition of this permit.") % {"condition": condition[:80]}
            )
        elif condition in given:
            errors.setdefault("findings", []).append(
                _("“%(condition)s” is answered twice.") % {"condition": condition[:80]}
            )
        else:
            given[condition] = finding
    cleaned = []
    for index, condition in enumerate(conditions):
        finding = given.get(condition)
        met = finding.get("met") if finding else None
        note = finding.get("note") if finding else ""
        note = note.strip() if isinstance(note, str) else ""
        if not isinstance(met, bool):
            errors[f"condition_{index}"] = [_("Say whether this condition is met.")]
        elif not met and not note:
            errors[f"note_{index}"] = [_("Say what is wrong; the holder reads it.")]
        if len(note) > NOTE_MAX_CHARS:
            errors[f"note_{index}"] = [_("Keep this under %(n)s characters.") % {"n": NOTE_MAX_CHARS}]
        cleaned.append({"condition": condition, "met": met, "note": note})
    if errors:
        raise ValidationFailed(errors=errors)
    return cleaned


@transaction.atomic
def inspection_report(*, inspection: Inspection, actor, findings, notes: str = "") -> Inspection:
    """An inspector (a civil servant) files the report: every condition met or not, a note for each
    unmet one. Each unmet condition is a violation to cure within the type's `cure_days` (unless one is
    already unresolved for it); a follow-up cures the unresolved violations of the conditions it found met.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    institution = inspection.institution
    _require(actor, institution, INSPECTOR_ROLES, _("Only the institution's inspectors (civil servants) report."))
    inspection = _locked(inspection)
    if inspection.status == InspectionStatus.ASSESSING:
        raise InvalidTransition(_("The agents are still rating this inspection's risk; report once it is scheduled."))
    permit = inspection.permit
    conditions = list(permit.permit_type.conditions)
    cleaned = clean_findings(conditions=conditions, findings=findings)
    notes = (notes or "").strip()
    if len(notes) > NOTE_MAX_CHARS:
        raise ValidationFailed(errors={"notes": [_("Keep this under %(n)s characters.") % {"n": NOTE_MAX_CHARS}]})
    previous = inspection.status
    inspection.transition_to(InspectionStatus.COMPLETED)
    unmet = [f for f in cleaned if not f["met"]]
    inspection.findings = cleaned
    inspection.notes = notes
    inspection.outcome = InspectionOutcome.VIOLATIONS if unmet else InspectionOutcome.COMPLIANT
    inspection.reported_by = actor
    inspection.inspector = inspection.inspector or actor
    inspection.completed_at = timezone.now()
    inspection.save()
    unresolved = {
        v.condition: v
        for v in Violation.all_institutions.filter(  # tenancy: the permit's own
            permit=permit, status__in=UNRESOLVED
        )
    }
    cure_by = _today() + dt.timedelta(days=permit.permit_type.cure_days)
    created = []
    for finding in unmet:
        if finding["condition"] in unresolved:
            continue  # still the same violation, with its first deadline
        created.append(
            Violation.all_institutions.create(  # tenancy: the permit's institution
                institution=institution,
                permit=permit,
                inspection=inspection,
                condition=finding["condition"],
                description=finding["note"],
                cure_by=cure_by,
            )
        )
    audit_append(
        institution=institution,
        actor=actor,
        action="permits.inspection.report",
        target=inspection,
        changes={
            "status": [previous, inspection.status],
            "outcome": inspection.outcome,
            "findings": cleaned,
            "notes": notes,
            "violations": [{"id": v.pk, "condition": v.condition, "cure_by": v.cure_by.isoformat()} for v in created],
        },
    )
    if inspection.kind == InspectionKind.FOLLOW_UP:
        for finding in cleaned:
            violation = unresolved.get(finding["condition"])
            if finding["met"] and violation is not None:
                _resolve(
                    violation,
                    to=ViolationStatus.CURED,
                    actor=actor,
                    resolution=_("Found cured by the follow-up inspection of %(date)s.")
                    % {"date": _today().isoformat()},
                    action="permits.violation.cure",
                )
    if created:
        _tell_holder(
            permit,
            _("The inspection of your %(type)s permit found violations") % {"type": permit.permit_type.name},
            _("Cure them by %(date)s, or the permit is suspended: %(conditions)s")
            % {"date": cure_by.isoformat(), "conditions": "; ".join(v.condition for v in created)},
            actor=actor,
        )
    else:
        _tell_holder(
            permit,
            _("The inspection of your %(type)s permit is done") % {"type": permit.permit_type.name},
            inspection.get_outcome_display(),
            actor=actor,
        )
    process.inspection_finished(inspection)
    return inspection


@transaction.atomic
def inspection_cancel(*, inspection: Inspection, actor, reason: str) -> Inspection:
    """Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    _require(
        actor,
        inspection.institution,
        SCHEDULER_ROLES,
        _("Only civil servants and administrators cancel inspections."),
    )
    reason = services._reason(reason, required=True, message=_("Say why the inspection is cancelled."))
    inspection = _locked(inspection)
    previous = inspection.status
    inspection.transition_to(InspectionStatus.CANCELLED)
    inspection.notes = reason
    inspection.save(update_fields=["status", "notes"])
    audit_append(
        institution=inspection.institution,
        actor=actor,
        action="permits.inspection.cancel",
        target=inspection,
        changes={"status": [previous, inspection.status], "reason": reason},
    )
    process.inspection_finished(inspection)
    return inspection


# --- violations ------------------------------------------------------------------------------------


def _violation_locked(violation: Violation) -> Violation:
    return (
        Violation.all_institutions.select_for_update()  # tenancy: the row given
        .select_related("permit", "permit__permit_type", "permit__holder", "institution")
        .get(pk=violation.pk)
    )


def suspended_for_violations(permit: Permit) -> bool:
    """Whether the permit's latest suspension was the node's, for overdue violations (the audit log says)."""
    if permit.status != PermitStatus.SUSPENDED:
        return False
    latest = (
        AuditEvent.objects.filter(target_type="permits.permit", target_id=str(permit.pk), action__in=SUSPEND_ACTIONS)
        .order_by("-pk")
        .values_list("action", flat=True)
        .first()
    )
    return latest == SUSPEND_FOR_VIOLATIONS


def _reinstate_if_cleared(permit: Permit) -> None:
    permit = services._permit_locked(permit)
    if not suspended_for_violations(permit):
        return
    if Violation.all_institutions.filter(permit=permit, status=ViolationStatus.OVERDUE).exists():  # tenancy: own
        return
    services.permit_reinstate(
        permit=permit,
        actor=None,
        reason=_("Every overdue violation behind the suspension is cured or waived."),
    )


def _resolve(violation: Violation, *, to: str, actor, resolution: str, action: str) -> Violation:
    violation = _violation_locked(violation)
    previous = violation.status
    violation.transition_to(to)
    violation.resolution = resolution
    violation.resolved_by = actor
    violation.resolved_at = timezone.now()
    violation.save()
    audit_append(
        institution=violation.institution,
        actor=actor,
        action=action,
        target=violation,
        changes={"status": [previous, violation.status], "resolution": resolution},
    )
    permit = violation.permit
    _tell_holder(
        permit,
        _("A violation of your %(type)s permit is closed: %(status)s")
        % {"type": permit.permit_type.name, "status": violation.get_status_display()},
        f"{violation.condition} — {resolution}",
        actor=actor,
    )
    if previous == ViolationStatus.OVERDUE:
        _reinstate_if_cleared(permit)
    return violation


@transaction.atomic
def violation_cure(*, violation: Violation, actor, resolution: str) -> Violation:
    """A civil servant confirms the holder cured the violation; the last overdue one cured lifts the
    suspension it brought.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    _require(actor, violation.institution, INSPECTOR_ROLES, _("Only the institution's civil servants confirm a cure."))
    resolution = services._reason(resolution, required=True, message=_("Say how the violation was cured."))
    return _resolve(
        violation, to=ViolationStatus.CURED, actor=actor, resolution=resolution, action="permits.violation.cure"
    )


@transaction.atomic
def violation_waive(*, violation: Violation, actor, reason: str) -> Violation:
    """An administrator waives a violation, with a reason.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    _require(actor, violation.institution, WAIVER_ROLES, _("Only the institution's administrators waive violations."))
    reason = services._reason(reason, required=True, message=_("Say why the violation is waived."))
    return _resolve(
        violation, to=ViolationStatus.WAIVED, actor=actor, resolution=reason, action="permits.violation.waive"
    )


@transaction.atomic
def violation_mark_overdue(*, violation: Violation, today: dt.date | None = None) -> Violation:
    """The node marks a violation past its deadline overdue and suspends its active permit (the status
    list bit flips: any verifier sees it). Idempotent."""
    today = today or _today()
    violation = _violation_locked(violation)
    if violation.status != ViolationStatus.OPEN or violation.cure_by >= today:
        return violation
    violation.transition_to(ViolationStatus.OVERDUE)
    violation.save(update_fields=["status"])
    audit_append(
        institution=violation.institution,
        actor=None,
        action="permits.violation.overdue",
        target=violation,
        changes={"status": [ViolationStatus.OPEN, ViolationStatus.OVERDUE], "cure_by": violation.cure_by.isoformat()},
    )
    permit = services._permit_locked(violation.permit)
    if permit.status == PermitStatus.ACTIVE:
        services._enforce(
            permit=permit,
            actor=None,
            reason=_("A violation was not cured by %(date)s: %(condition)s")
            % {"date": violation.cure_by.isoformat(), "condition": violation.condition},
            to=PermitStatus.SUSPENDED,
            credential_change=credential_services.credential_suspend,
            action=SUSPEND_FOR_VIOLATIONS,
            title=_("Your %(type)s permit is suspended"),
        )
    else:
        _tell_holder(
            permit,
            _("A violation of your %(type)s permit was not cured in time") % {"type": permit.permit_type.name},
            violation.condition,
        )
    return violation


def violations_overdue_sweep(*, today: dt.date | None = None) -> int:
    """Beat: every open violation past its deadline becomes overdue, each in its own transaction."""
    today = today or _today()
    # tenancy: the node's beat sweeps every institution's violations; each change is audited in its own
    ids = list(
        Violation.all_institutions.filter(status=ViolationStatus.OPEN, cure_by__lt=today).values_list("pk", flat=True)
    )
    for pk in ids:
        violation = Violation.all_institutions.select_related("institution").get(pk=pk)  # tenancy: as above
        with institution_scope(violation.institution):
            violation_mark_overdue(violation=violation, today=today)
    return len(ids)


def inspections_due_sweep(*, today: dt.date | None = None) -> int:
    """Beat: schedule a routine inspection of each active permit of a type with conditions that has none
    scheduled or being assessed; at most DUE_SWEEP_BATCH a run, each in its own transaction. Idempotent."""
    # tenancy: the node's beat sweeps every institution's permits; each schedule is audited in its own
    pending = (
        Permit.all_institutions.filter(status=PermitStatus.ACTIVE)
        .exclude(permit_type__conditions=[])
        .exclude(
            pk__in=Inspection.all_institutions.filter(status__in=OPEN_INSPECTION).values(
                "permit_id"
            )  # tenancy: as above
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:DUE_SWEEP_BATCH]
    )
    scheduled = 0
    for pk in list(pending):
        permit = Permit.all_institutions.select_related("institution").get(pk=pk)  # tenancy: as above
        with institution_scope(permit.institution):
            try:
                inspection_schedule(permit=permit, kind=InspectionKind.ROUTINE, actor=None)
            except (Conflict, InvalidTransition):
                continue  # scheduled or changed meanwhile
            scheduled += 1
    return scheduled

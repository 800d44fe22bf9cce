"""Permits on BPMN processes: a submitted application of a type with a `process_key` starts the
institution's latest version of that process, whose service tasks call these actions.

- `permits.review` (`approve_automatically`?: true lets the agents' unflagged approval stand): puts the
  application before its type's agents (a civil servant confirms; the council decides when flagged),
  waits for the decision; result `decision` (approved, refused, withdrawn) and `reason`.
- `permits.issue`: issues the approved application's permit as a credential; result `permit`,
  `credential`, `valid_until`.
- `permits.inspect`: schedules an inspection of the issued permit (its risk rated by the agents) and
  waits for the inspector's report; result `inspection` (compliant, violations, cancelled) and
  `violations` (how many).

The application stays the source of truth: its statuses move only through `services`, and the
process waits on them. A change an action waits for wakes the call after commit
(`apps.bpm.tasks.service_calls_wake_task`); beat's poll resumes any wake-up that was lost.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from apps.bpm.actions import ActionFailed, Waiting, register_action
from apps.permits.models import ApplicationStatus, PermitApplication

REVIEW = "permits.review"
ISSUE = "permits.issue"
INSPECT = "permits.inspect"
TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
# what the process reads of an application's final status
OUTCOMES = {
    ApplicationStatus.APPROVED: "approved",
    ApplicationStatus.ISSUED: "approved",
    ApplicationStatus.REFUSED: "refused",
    ApplicationStatus.WITHDRAWN: "withdrawn",
}


def process_data(application: PermitApplication) -> dict:
    """What the process starts with: the answers at the top level (gateways read `crowd_size`), and
    the application's identity."""
    data = {key: value for key, value in application.data.items() if not key.startswith("_")}
    data.update(
        {
            "application_id": application.pk,
            "permit_type": application.permit_type.slug,
            "renewal": application.renews_id is not None,
        }
    )
    return data


def application_of(call) -> PermitApplication:
    """Raises: ActionFailed when the instance runs no application."""
    application = (
        PermitApplication.all_institutions.filter(  # tenancy: the call's own institution, explicitly
            institution_id=call.institution_id, process_instance_id=call.instance_id
        )
        .select_related("permit_type", "institution")
        .first()
    )
    if application is None:
        raise ActionFailed(_("This process instance runs no permit application."))
    return application


def _flag(params: dict, name: str) -> bool:
    return str(params.get(name) or "").strip().lower() in TRUE_WORDS


# --- permits.review ---------------------------------------------------------------------------


def review(*, call, params: dict):
    from apps.permits import services

    application = services._locked(application_of(call))
    if application.status in OUTCOMES:
        return _review_result(application)
    if _flag(params, "approve_automatically") and not application.approve_automatically:
        application.approve_automatically = True
        application.save(update_fields=["approve_automatically"])
    services.application_review_start(application=application)
    return Waiting(ref=application.pk)


def _review_result(application: PermitApplication) -> dict:
    return {"decision": OUTCOMES[application.status], "reason": application.decision_reason}


def review_outcome(*, call):
    application = PermitApplication.all_institutions.filter(  # tenancy: the call's institution, explicitly
        institution_id=call.institution_id, pk=int(call.external_ref or 0)
    ).first()
    if application is None:
        return ActionFailed(_("The application is gone."))
    return _review_result(application) if application.status in OUTCOMES else None


def application_moved(application: PermitApplication) -> None:
    """Called by `services._move`: wake the process step waiting on this application's decision."""
    if application.process_instance_id and application.status in OUTCOMES:
        _wake(REVIEW, application.pk, application.institution_id)


# --- permits.issue ----------------------------------------------------------------------------


def issue(*, call, params: dict) -> dict:
    from apps.permits import services

    application = application_of(call)
    try:
        permit = services.application_issue(application=application)
    except services.InvalidTransition as error:
        raise ActionFailed(error.message) from None
    return {
        "permit": str(permit.uuid),
        "credential": str(permit.credential.uuid),
        "valid_until": permit.valid_until.isoformat(),
    }


# --- permits.inspect --------------------------------------------------------------------------


def inspect(*, call, params: dict) -> Waiting:
    from apps.permits import inspections
    from apps.permits.models import InspectionKind, Permit

    application = application_of(call)
    permit = Permit.all_institutions.filter(application=application).first()  # tenancy: the application's
    if permit is None:
        raise ActionFailed(_("The application has no issued permit to inspect."))
    inspection = inspections.inspection_schedule(permit=permit, kind=InspectionKind.PROCESS, actor=None)
    return Waiting(ref=inspection.pk)


def inspect_outcome(*, call):
    from apps.permits.models import Inspection, InspectionStatus

    inspection = Inspection.all_institutions.filter(  # tenancy: the call's institution, explicitly
        institution_id=call.institution_id, pk=int(call.external_ref or 0)
    ).first()
    if inspection is None:
        return ActionFailed(_("The inspection is gone."))
    if inspection.status == InspectionStatus.CANCELLED:
        return {"inspection": "cancelled", "violations": 0}
    if inspection.status != InspectionStatus.COMPLETED:
        return None
    return {"inspection": inspection.outcome, "violations": inspection.violations.count()}


def inspection_finished(inspection) -> None:
    """Called by the inspections services when an inspection is completed or cancelled."""
    _wake(INSPECT, inspection.pk, inspection.institution_id)


# --- starting ----------------------------------------------------------------------------------


def _wake(action: str, ref, institution_id: int) -> None:
    from apps.bpm.tasks import service_calls_wake_task

    ref = str(ref)
    transaction.on_commit(lambda: service_calls_wake_task.delay(action=action, ref=ref, institution_id=institution_id))


def definition_for(application: PermitApplication):
    from apps.bpm.models import ProcessDefinition

    key = application.permit_type.process_key
    if not key:
        return None
    return ProcessDefinition.all_institutions.filter(  # tenancy: the application's institution, explicitly
        institution_id=application.institution_id, key=key
    ).first()


def register() -> None:
    register_action(REVIEW, review, label="Review a permit application", outcome=review_outcome)
    register_action(ISSUE, issue, label="Issue the permit as a credential")
    register_action(INSPECT, inspect, label="Inspect the permit", outcome=inspect_outcome)

"""Writes of permits: types, applications (apply, review, decide, withdraw), issuance as a credential,
suspension, revocation, reinstatement, expiry. Each with its permission check and audit event in one
transaction; side effects after commit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_append
from apps.identity.credentials import services as credential_services
from apps.notifications.services import notification_send
from apps.permits import process, schema, uploads
from apps.permits.models import (
    ApplicationEvent,
    ApplicationStatus,
    Permit,
    PermitApplication,
    PermitStatus,
    PermitType,
)
from apps.tenancy.models import Institution, Role
from apps.tenancy.selectors import roles_of
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed

PERMIT_CREDENTIAL_TYPE = "PermitCredential"
REASON_MAX_CHARS = 2000
# who may apply: citizens and businesses (members with the citizen role), and integrators through the API
APPLICANT_ROLES = frozenset({Role.CITIZEN, Role.INTEGRATOR})
# casework: deciding, asking for information
DECIDER_ROLES = frozenset({Role.CIVIL_SERVANT})
# permit types, and enforcement (suspension, revocation, reinstatement)
ADMIN_ROLES = frozenset({Role.INSTITUTION_ADMIN})
# a council's or the agents' decision that grants the permit; anything else refuses it
APPROVING_DECISIONS = frozenset({"approve", "approved", "grant", "granted", "issue"})
REMINDER_DAYS = 30
CURRENCY_CODES = frozenset(
    {"EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "RON", "BGN", "JPY", "CAD", "AUD"}
)


def _require(*, actor, institution: Institution, roles: frozenset, message: str) -> None:
    if actor is None or not roles_of(user=actor, institution=institution) & roles:
        raise PermissionDenied(message)


def _reason(reason: str, *, required: bool, message: str = "") -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ValidationFailed(errors={"reason": [message or _("Give a reason; the applicant reads it.")]})
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed(errors={"reason": [_("Keep this under %(n)s characters.") % {"n": REASON_MAX_CHARS}]})
    return reason


# --- Permit types ---------------------------------------------------------------------------


def _clean_type(*, institution, values: dict) -> dict:
    errors: dict[str, list[str]] = {}
    cleaned = dict(values)
    if "name" in values:
        cleaned["name"] = str(values["name"] or "").strip()
        if not cleaned["name"] or len(cleaned["name"]) > 200:
            errors["name"] = [_("Give the permit type a name (at most 200 characters).")]
    if "slug" in values:
        from django.core.validators import validate_slug

        cleaned["slug"] = str(values["slug"] or "").strip().lower()
        try:
            validate_slug(cleaned["slug"])
            if len(cleaned["slug"]) > 60:
                raise ValueError
        except Exception:
            errors["slug"] = [_("Use lower-case letters, digits, - or _ (at most 60).")]
    if "description" in values:
        cleaned["description"] = str(values["description"] or "").strip()[:5000]
    for key, cleaner in (("fields", schema.clean_fields), ("attachments", schema.clean_attachment_names)):
        if key in values:
            try:
                cleaned[key] = cleaner(values[key])
            except ValidationFailed as error:
                errors.update(error.extra["errors"])
    if "fee_amount" in values:
        try:
            amount = Decimal(str(values["fee_amount"]))
            if (
                not amount.is_finite()
                or amount < 0
                or amount >= Decimal(10) ** 10
                or amount != amount.quantize(Decimal("0.01"))
            ):
                raise InvalidOperation
            cleaned["fee_amount"] = amount
        except InvalidOperation:
            errors["fee_amount"] = [_("Enter the fee as an amount with at most two decimals, zero or more.")]
    if "fee_currency" in values:
        cleaned["fee_currency"] = str(values["fee_currency"] or "").strip().upper()
        if cleaned["fee_currency"] not in CURRENCY_CODES:
            errors["fee_currency"] = [_("Choose a currency (ISO 4217 code).")]
    if "validity_days" in values:
        try:
            days = int(values["validity_days"])
            if not 1 <= days <= 36500:
                raise ValueError
            cleaned["validity_days"] = days
        except (TypeError, ValueError):
            errors["validity_days"] = [_("Enter a number of days between 1 and 36500.")]
    if "conditions" in values:
        try:
            cleaned["conditions"] = schema.clean_conditions(values["conditions"])
        except ValidationFailed as error:
            errors.update(error.extra["errors"])
    if "cure_days" in values:
        try:
            days = int(values["cure_days"])
            if not 1 <= days <= 365:
                raise ValueError
            cleaned["cure_days"] = days
        except (TypeError, ValueError):
            errors["cure_days"] = [_("Enter a number of days between 1 and 365.")]
    for key in ("cluster", "council", "inspection_cluster"):
        value = values.get(key)
        if value is not None and value.institution_id != institution.pk:
            errors[key] = [_("Choose one of this institution's own.")]
    if "process_key" in values:
        cleaned["process_key"] = str(values["process_key"] or "").strip()
        if len(cleaned["process_key"]) > 200:
            errors["process_key"] = [_("Keep this under 200 characters.")]
    if "active" in values:
        cleaned["active"] = bool(values["active"])
    if errors:
        raise ValidationFailed(errors=errors)
    return cleaned


TYPE_FIELDS = (
    "name",
    "slug",
    "description",
    "fields",
    "attachments",
    "fee_amount",
    "fee_currency",
    "validity_days",
    "cluster",
    "council",
    "process_key",
    "conditions",
    "inspection_cluster",
    "cure_days",
    "active",
)


def _type_changes(permit_type: PermitType) -> dict:
    return {
        "name": permit_type.name,
        "slug": permit_type.slug,
        "fields": permit_type.fields,
        "attachments": permit_type.attachments,
        "fee": {"amount": str(permit_type.fee_amount), "currency": permit_type.fee_currency},
        "validity_days": permit_type.validity_days,
        "cluster": permit_type.cluster_id,
        "council": permit_type.council_id,
        "process_key": permit_type.process_key,
        "conditions": permit_type.conditions,
        "inspection_cluster": permit_type.inspection_cluster_id,
        "cure_days": permit_type.cure_days,
        "active": permit_type.active,
    }


@transaction.atomic
def permit_type_create(*, institution: Institution, actor, **values) -> PermitType:
    """An administrator defines a permit type.

    Raises: PermissionDenied, ValidationFailed, Conflict."""
    _require(
        actor=actor,
        institution=institution,
        roles=ADMIN_ROLES,
        message=_("Only the institution's administrators define permit types."),
    )
    unknown = set(values) - set(TYPE_FIELDS)
    if unknown:
        raise ValidationFailed(errors={key: [_("Unknown setting.")] for key in sorted(unknown)})
    values = {"description": "", "fields": [], "attachments": [], "fee_amount": "0", "fee_currency": "EUR"} | values
    values.setdefault("name", "")
    values.setdefault("slug", "")
    cleaned = _clean_type(institution=institution, values=values)
    if PermitType.all_institutions.filter(institution=institution, slug=cleaned["slug"]).exists():  # tenancy: explicit
        raise ValidationFailed(errors={"slug": [_("Another permit type has this short name.")]})
    try:
        with transaction.atomic():
            permit_type = PermitType.all_institutions.create(institution=institution, **cleaned)  # tenancy: explicit
    except IntegrityError as exc:
        raise Conflict(_("Another permit type has this short name.")) from exc
    audit_append(
        institution=institution,
        actor=actor,
        action="permits.type.create",
        target=permit_type,
        changes=_type_changes(permit_type),
    )
    return permit_type


@transaction.atomic
def permit_type_update(*, permit_type: PermitType, actor, **values) -> PermitType:
    """Raises: PermissionDenied, ValidationFailed."""
    institution = permit_type.institution
    _require(
        actor=actor,
        institution=institution,
        roles=ADMIN_ROLES,
        message=_("Only the institution's administrators define permit types."),
    )
    unknown = set(values) - set(TYPE_FIELDS)
    if unknown:
        raise ValidationFailed(errors={key: [_("Unknown setting.")] for key in sorted(unknown)})
    cleaned = _clean_type(institution=institution, values=values)
    if (
        "slug" in cleaned
        and PermitType.all_institutions.filter(institution=institution, slug=cleaned["slug"])  # tenancy: explicit
        .exclude(pk=permit_type.pk)
        .exists()
    ):
        raise ValidationFailed(errors={"slug": [_("Another permit type has this short name.")]})
    permit_type = PermitType.all_institutions.select_for_update().get(pk=permit_type.pk)  # tenancy: the row given
    before = _type_changes(permit_type)
    for key, value in cleaned.items():
        setattr(permit_type, key, value)
    permit_type.save()
    after = _type_changes(permit_type)
    audit_append(
        institution=institution,
        actor=actor,
        action="permits.type.update",
        target=permit_type,
        changes={key: [before[key], after[key]] for key in after if before[key] != after[key]},
    )
    return permit_type


# --- Applications ---------------------------------------------------------------------------


def _locked(application: PermitApplication) -> PermitApplication:
    return (
        PermitApplication.all_institutions.select_for_update()  # tenancy: the row given
        .select_related("permit_type", "applicant", "institution")
        .get(pk=application.pk)
    )


def _move(application: PermitApplication, to: str, *, actor, reason: str = "", action: str, changes=None) -> None:
    """The one way an application's status changes: guarded, saved, on the timeline, audited."""
    previous = application.status
    application.transition_to(to)
    application.save()
    ApplicationEvent.all_institutions.create(  # tenancy: the application's own institution
        institution=application.institution,
        application=application,
        status_from=previous,
        status_to=to,
        reason=reason,
        actor=actor if getattr(actor, "pk", None) else None,
    )
    audit_append(
        institution=application.institution,
        actor=actor,
        action=action,
        target=application,
        changes={"status": [previous, to], "reason": reason, **(changes or {})},
    )
    process.application_moved(application)


def _tell_applicant(application: PermitApplication, title: str, body: str = "", actor=None) -> None:
    notification_send(
        institution=application.institution,
        recipient=application.applicant,
        title=title,
        body=body,
        url=f"/i/{application.institution.slug}/permits/applications/{application.pk}/",
        actor=actor,
    )


def _store_attachments(*, permit_type: PermitType, files: dict, required: bool) -> list[dict]:
    """Check every attachment before storing any; on any error nothing stays on disk.

    Raises: ValidationFailed."""
    files = files or {}
    errors: dict[str, list[str]] = {}
    for name in files:
        if name not in permit_type.attachments:
            errors[str(name)[:60]] = [_("This permit type asks for no such attachment.")]
    kinds = {}
    for name in permit_type.attachments:
        upload = files.get(name)
        if upload is None:
            if required:
                errors[name] = [_("Attach this document.")]
            continue
        try:
            kinds[name] = uploads.attachment_kind(name=name, upload=upload)
        except ValidationFailed as error:
            errors.update(error.extra["errors"])
    if errors:
        raise ValidationFailed(errors=errors)
    stored: list[dict] = []
    try:
        for name, kind in kinds.items():
            upload = files[name]
            stored.append(
                {
                    "name": name,
                    "path": uploads.attachment_store(upload, kind),
                    "original_name": (getattr(upload, "name", "") or "")[:200],
                    "content_type": kind.content_type,
                    "size": upload.size,
                }
            )
    except BaseException:
        for item in stored:
            uploads.attachment_delete(item["path"])
        raise
    return stored


def _on_rollback_delete(stored: list[dict]):
    """Files written for a row that did not commit must go too."""

    def cleanup():
        for item in stored:
            uploads.attachment_delete(item["path"])

    return cleanup


@transaction.atomic
def application_create(
    *, permit_type: PermitType, applicant, data: dict, files: dict | None = None, submit: bool = True
) -> PermitApplication:
    """A member with the citizen (or integrator) role applies: answers checked against the type's schema,
    attachments by their bytes; submitted at once unless `submit` is false (a draft).

    Raises: PermissionDenied, ValidationFailed."""
    institution = permit_type.institution
    _require(
        actor=applicant,
        institution=institution,
        roles=APPLICANT_ROLES,
        message=_("Only the institution's citizens and businesses apply for permits."),
    )
    if not permit_type.active:
        raise ValidationFailed(errors={"permit_type": [_("This permit type is not open for applications.")]})
    answers = schema.clean_answers(fields=permit_type.fields, answers=data)
    stored = _store_attachments(permit_type=permit_type, files=files or {}, required=submit)
    try:
        application = PermitApplication.all_institutions.create(  # tenancy: the permit type's institution
            institution=institution,
            permit_type=permit_type,
            applicant=applicant,
            data=answers,
            attachments=stored,
        )
        ApplicationEvent.all_institutions.create(  # tenancy: the application's own institution
            institution=institution, application=application, status_to=ApplicationStatus.DRAFT, actor=applicant
        )
        audit_append(
            institution=institution,
            actor=applicant,
            action="permits.application.create",
            target=application,
            changes={
                "permit_type": permit_type.slug,
                "data": answers,
                "attachments": [{k: a[k] for k in ("name", "content_type", "size")} for a in stored],
            },
        )
        if submit:
            _submit(application, actor=applicant)
    except BaseException:
        _on_rollback_delete(stored)()
        raise
    return application


def _submit(application: PermitApplication, *, actor) -> None:
    from apps.permits import tasks

    if application.permit_type.attachments:
        missing = [
            n for n in application.permit_type.attachments if n not in {a["name"] for a in application.attachments}
        ]
        if missing:
            raise ValidationFailed(errors={name: [_("Attach this document.")] for name in missing})
    schema.clean_answers(fields=application.permit_type.fields, answers=application.data)  # required ones present
    application.submitted_at = timezone.now()
    _move(application, ApplicationStatus.SUBMITTED, actor=actor, action="permits.application.submit")
    application_id, institution_id = application.pk, application.institution_id
    if application.permit_type.process_key:
        transaction.on_commit(
            lambda: tasks.application_process_start_task.delay(
                application_id=application_id, institution_id=institution_id
            )
        )
    elif application.permit_type.cluster_id:
        transaction.on_commit(
            lambda: tasks.application_review_start_task.delay(
                application_id=application_id, institution_id=institution_id
            )
        )


@transaction.atomic
def application_process_start(*, application: PermitApplication) -> PermitApplication:
    """Start the type's BPMN process for a submitted application (the node acts). Idempotent. When the
    institution has no such process, or it fails at once, the application goes the way it would
    without one (its type's cluster, or a civil servant) and the timeline says why."""
    from apps.bpm import services as bpm_services
    from apps.bpm.models import InstanceStatus

    application = _locked(application)
    if application.process_instance_id or application.status != ApplicationStatus.SUBMITTED:
        return application
    definition = process.definition_for(application)
    if definition is None:
        problem = _("The institution has no process “%(key)s”; the application is reviewed without it.") % {
            "key": application.permit_type.process_key
        }
    else:
        instance = bpm_services.instance_start(
            definition=definition, actor=None, data=process.process_data(application)
        )
        application.process_instance = instance
        application.save(update_fields=["process_instance"])
        audit_append(
            institution=application.institution,
            actor=None,
            action="permits.application.process_start",
            target=application,
            changes={"process": definition.key, "instance": instance.pk, "version": instance.version.number},
        )
        if instance.status != InstanceStatus.FAILED:
            return application
        problem = _("The process “%(key)s” failed (%(error)s); the application is reviewed without it.") % {
            "key": definition.key,
            "error": instance.error[:300],
        }
    audit_append(
        institution=application.institution,
        actor=None,
        action="permits.application.process_missing",
        target=application,
        changes={"reason": problem},
    )
    if application.permit_type.cluster_id:
        application_review_start(application=application)
    return application


@transaction.atomic
def application_submit(*, application: PermitApplication, actor) -> PermitApplication:
    """The applicant submits a draft.

    Raises: PermissionDenied, InvalidTransition, ValidationFailed."""
    if application.applicant_id != getattr(actor, "pk", None):
        raise PermissionDenied(_("Only the applicant can submit the application."))
    application = _locked(application)
    _submit(application, actor=actor)
    return application


def review_record(application: PermitApplication) -> dict:
    """What the agents see: the answers at the top level, the metadata under `permit`."""
    permit_type = application.permit_type
    return {
        **schema.answers_for_agents(fields=permit_type.fields, answers=application.data),
        "permit": {
            "type": permit_type.slug,
            "application": str(application.uuid),
            "attachments": sorted(a["name"] for a in application.attachments),
            "fee": {"amount": str(permit_type.fee_amount), "currency": permit_type.fee_currency},
        },
    }


@transaction.atomic
def application_review_start(*, application: PermitApplication) -> PermitApplication:
    """Put a submitted application before its type's agent cluster (the node acts). Idempotent: only a
    submitted application of a type with a cluster moves. A run that cannot start sends the case to a
    civil servant."""
    from apps.agents.clusters import services as cluster_services

    application = _locked(application)
    permit_type = application.permit_type
    if application.status != ApplicationStatus.SUBMITTED or not permit_type.cluster_id:
        return application
    try:
        with transaction.atomic():
            run = cluster_services.cluster_run_start(
                cluster=permit_type.cluster,
                record=review_record(application),
                documents={},
                actor=None,
                concerns=application.applicant,
            )
    except (ValidationFailed, PermissionDenied) as error:
        application.agent_decision = ""
        _move(application, ApplicationStatus.UNDER_REVIEW, actor=None, action="permits.application.review")
        _move(
            application,
            ApplicationStatus.AWAITING_CONFIRMATION,
            actor=None,
            reason=_("The agents could not take the case (%(error)s); a civil servant decides.")
            % {"error": error.message},
            action="permits.application.review_failed",
        )
        return application
    application.cluster_run = run
    application.agent_decision = ""
    _move(
        application,
        ApplicationStatus.UNDER_REVIEW,
        actor=None,
        reason=_("The agents are reviewing the application."),
        action="permits.application.review",
        changes={"run": run.pk},
    )
    return application


def _council_reasons(run) -> str:
    verdict = run.council_verdict or {}
    reasons = verdict.get("reasons") or []
    text = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else str(reasons)
    return (
        _("The council %(council)s decided “%(decision)s”: %(reasons)s")
        % {"council": verdict.get("council", ""), "decision": run.final_decision, "reasons": text or "—"}
    )[:REASON_MAX_CHARS]


@transaction.atomic
def application_follow_run(*, run) -> PermitApplication | None:
    """Move the application a cluster run reviews on to what the run says. Idempotent.

    finished and unflagged: a civil servant confirms or overturns; flagged: the council decides (the run
    itself is the council's case, `agents.cluster_run`), and its verdict, once the run's final decision,
    approves or refuses; failed: a civil servant decides."""
    from apps.agents.models import ClusterRunStatus

    found = PermitApplication.all_institutions.filter(  # tenancy: the run's institution, explicitly
        institution_id=run.institution_id, cluster_run_id=run.pk
    ).first()
    if found is None:
        return None
    application = _locked(found)
    if application.status == ApplicationStatus.UNDER_REVIEW:
        if run.status == ClusterRunStatus.FAILED:
            _move(
                application,
                ApplicationStatus.AWAITING_CONFIRMATION,
                actor=None,
                reason=_("The agents could not decide; a civil servant decides."),
                action="permits.application.review_failed",
            )
        elif run.status == ClusterRunStatus.DECIDED:
            application.agent_decision = run.decision
            automatic = application.approve_automatically and run.decision in APPROVING_DECISIONS
            _move(
                application,
                ApplicationStatus.AWAITING_CONFIRMATION,
                actor=None,
                reason=_("The agents propose “%(decision)s”; a civil servant confirms.") % {"decision": run.decision}
                if not automatic
                else _("The agents approve, without a flag."),
                action="permits.application.agents_decided",
                changes={"run": run.pk, "decision": run.decision},
            )
            if automatic:
                # the process lets the agents' unflagged approvals stand; a refusal always goes to a person
                _approve_and_issue(
                    application,
                    actor=None,
                    reason=_("Approved automatically: the process accepts the agents' unflagged approval."),
                    action="permits.application.auto_approve",
                )
        elif run.status == ClusterRunStatus.FLAGGED:
            application.agent_decision = run.decision
            _move(
                application,
                ApplicationStatus.IN_COUNCIL,
                actor=None,
                reason=_("The agents flagged the case for the council: %(reasons)s")
                % {"reasons": " ".join(run.reasons)},
                action="permits.application.to_council",
                changes={"run": run.pk},
            )
            _tell_applicant(application, _("A council will decide on your permit application"))
    from apps.permits import review

    if (
        application.status == ApplicationStatus.IN_COUNCIL
        and run.final_decision
        and run.council_verdict
        and review.appeal_of(application=application) is None  # an appeal's verdict decides, not the run's
    ):
        _council_decides(application, decision=run.final_decision, reason=_council_reasons(run))
    return application


def _council_decides(application: PermitApplication, *, decision: str, reason: str) -> None:
    if decision in APPROVING_DECISIONS:
        _approve_and_issue(application, actor=None, reason=reason, action="permits.application.council_approve")
        return
    application.decision_reason = reason
    application.decided_at = timezone.now()
    _move(
        application, ApplicationStatus.REFUSED, actor=None, reason=reason, action="permits.application.council_refuse"
    )
    _tell_applicant(application, _("Your permit application was refused"), reason)


@transaction.atomic
def application_council_decide(*, application: PermitApplication, decision: str, council: str, reasons) -> None:
    """A council's verdict on an appeal decides the application (called by the review subject).

    Raises: InvalidTransition (the application is no longer before the council)."""
    application = _locked(application)
    if application.status != ApplicationStatus.IN_COUNCIL:
        raise InvalidTransition(_("The application is no longer before the council."))
    text = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else str(reasons)
    reason = (
        _("The council %(council)s decided “%(decision)s”: %(reasons)s")
        % {"council": council, "decision": decision, "reasons": text or "—"}
    )[:REASON_MAX_CHARS]
    _council_decides(application, decision=decision, reason=reason)


def _approve_and_issue(application: PermitApplication, *, actor, reason: str, action: str) -> Permit | None:
    """Approve; issue at once, unless a running process issues it as its own step (`permits.issue`)."""
    from apps.bpm.models import InstanceStatus

    application.decided_by = actor if getattr(actor, "pk", None) else None
    application.decided_at = timezone.now()
    application.decision_reason = reason
    _move(application, ApplicationStatus.APPROVED, actor=actor, reason=reason, action=action)
    instance = application.process_instance
    if instance is not None and instance.status == InstanceStatus.RUNNING:
        return None
    return _issue_now(application, actor=actor)


def _issue_now(application: PermitApplication, *, actor) -> Permit:
    permit = _issue(application, actor=actor)
    _move(
        application,
        ApplicationStatus.ISSUED,
        actor=actor,
        reason=_("Permit issued as a verifiable credential."),
        action="permits.application.issue",
        changes={"permit": str(permit.uuid), "credential": str(permit.credential.uuid)},
    )
    _tell_applicant(
        application,
        _("Your %(type)s permit is issued") % {"type": application.permit_type.name},
        _("The permit is in your wallet as a credential."),
        actor=actor,
    )
    return permit


@transaction.atomic
def application_issue(*, application: PermitApplication) -> Permit:
    """Issue an approved application's permit (the process's `permits.issue` step; the node acts).
    Idempotent: an issued application returns its permit.

    Raises: InvalidTransition (not approved)."""
    application = _locked(application)
    if application.status == ApplicationStatus.ISSUED:
        return Permit.all_institutions.get(application=application)  # tenancy: the application's own
    if application.status != ApplicationStatus.APPROVED:
        raise InvalidTransition(_("Only an approved application's permit is issued."))
    return _issue_now(application, actor=None)


def permit_subject(*, did: str, application: PermitApplication, permit_uuid) -> dict:
    permit_type = application.permit_type
    holder = application.applicant
    return {
        "id": did,
        "name": holder.get_full_name() or holder.username,
        "permit": {
            "id": f"urn:uuid:{permit_uuid}",
            "type": permit_type.slug,
            "name": permit_type.name,
            "fields": application.data,
        },
        "issuedBy": {"id": application.institution.did, "name": application.institution.name},
    }


def _issue(application: PermitApplication, *, actor) -> Permit:
    import uuid

    permit_type = application.permit_type
    did = credential_services.user_did_ensure(user=application.applicant)
    now = timezone.now().replace(microsecond=0)
    renewed = application.renews
    if renewed is not None and renewed.status == PermitStatus.ACTIVE and renewed.valid_until > now:
        now = renewed.valid_until  # a renewal continues the permit without a gap or an overlap
    valid_until = now + timedelta(days=permit_type.validity_days)
    permit_uuid = uuid.uuid4()
    credential = credential_services.credential_issue(
        institution=application.institution,
        subject=permit_subject(did=did, application=application, permit_uuid=permit_uuid),
        types=[PERMIT_CREDENTIAL_TYPE],
        valid_from=now,
        valid_until=valid_until,
        actor=actor,
    )
    permit = Permit.all_institutions.create(  # tenancy: the application's institution
        institution=application.institution,
        uuid=permit_uuid,
        application=application,
        permit_type=permit_type,
        holder=application.applicant,
        credential=credential,
        valid_from=now,
        valid_until=valid_until,
    )
    audit_append(
        institution=application.institution,
        actor=actor,
        action="permits.permit.issue",
        target=permit,
        changes={"credential": str(credential.uuid), "valid_until": valid_until, "holder": did},
    )
    return permit


def process_failed(application: PermitApplication) -> bool:
    from apps.bpm.models import InstanceStatus

    instance = application.process_instance
    return instance is not None and instance.status == InstanceStatus.FAILED


def awaits_decision(application: PermitApplication) -> bool:
    """Whether a civil servant decides the application now: the agents have proposed, or no agents review
    it, or its process stopped on an error before the agents had it (nothing else would move it on)."""
    if application.status == ApplicationStatus.AWAITING_CONFIRMATION:
        return True
    if application.status != ApplicationStatus.SUBMITTED:
        return False
    return not application.permit_type.cluster_id or process_failed(application)


@transaction.atomic
def application_decide(*, application: PermitApplication, actor, approve: bool, reason: str = "") -> PermitApplication:
    """A civil servant decides: confirms the agents' proposal or overturns it (with a reason), or decides a
    case no cluster reviews. Refusing always needs a reason.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    _require(
        actor=actor,
        institution=application.institution,
        roles=DECIDER_ROLES,
        message=_("Only the institution's civil servants decide permit applications."),
    )
    application = _locked(application)
    if not awaits_decision(application):
        raise InvalidTransition(_("This application is not waiting for a civil servant's decision."))
    agents = application.agent_decision
    overturns = bool(agents) and (agents in APPROVING_DECISIONS) != approve
    reason = _reason(
        reason,
        required=not approve or overturns,
        message=_("Say why you refuse or overturn the agents' proposal; the applicant reads it."),
    )
    if approve:
        _approve_and_issue(
            application,
            actor=actor,
            reason=reason or _("Approved."),
            action="permits.application.overturn" if overturns else "permits.application.approve",
        )
        return application
    application.decided_by = actor
    application.decided_at = timezone.now()
    application.decision_reason = reason
    _move(
        application,
        ApplicationStatus.REFUSED,
        actor=actor,
        reason=reason,
        action="permits.application.overturn" if overturns else "permits.application.refuse",
    )
    _tell_applicant(application, _("Your permit application was refused"), reason, actor=actor)
    return application


@transaction.atomic
def application_request_information(*, application: PermitApplication, actor, question: str) -> PermitApplication:
    """A civil servant asks the applicant for more information.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    _require(
        actor=actor,
        institution=application.institution,
        roles=DECIDER_ROLES,
        message=_("Only the institution's civil servants ask for information."),
    )
    question = _reason(question, required=True, message=_("Say what information you need."))
    application = _locked(application)
    if application.status == ApplicationStatus.SUBMITTED and application.permit_type.cluster_id:
        raise InvalidTransition(_("This application is not waiting for a civil servant."))
    application.information_request = question
    _move(
        application,
        ApplicationStatus.INFORMATION_REQUESTED,
        actor=actor,
        reason=question,
        action="permits.application.request_information",
    )
    _tell_applicant(application, _("More information is needed for your permit application"), question, actor=actor)
    return application


@transaction.atomic
def application_answer(
    *, application: PermitApplication, actor, answer: str, data: dict | None = None, files: dict | None = None
) -> PermitApplication:
    """The applicant answers a request for information (text, changed answers, new attachments); the
    application is submitted again and reviewed again.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    if application.applicant_id != getattr(actor, "pk", None):
        raise PermissionDenied(_("Only the applicant answers."))
    answer = _reason(answer, required=True, message=_("Write your answer."))
    application = _locked(application)
    if application.status != ApplicationStatus.INFORMATION_REQUESTED:
        raise InvalidTransition(_("No information was asked for."))
    if data:
        application.data = schema.clean_answers(
            fields=application.permit_type.fields, answers={**application.data, **data}
        )
    stored = _store_attachments(permit_type=application.permit_type, files=files or {}, required=False)
    try:
        if stored:
            replaced = {a["name"] for a in stored}
            application.attachments = [a for a in application.attachments if a["name"] not in replaced] + stored
        application.information_request = ""
        previous = application.status
        application.transition_to(ApplicationStatus.SUBMITTED)
        application.submitted_at = timezone.now()
        application.save()
        ApplicationEvent.all_institutions.create(  # tenancy: the application's own institution
            institution=application.institution,
            application=application,
            status_from=previous,
            status_to=ApplicationStatus.SUBMITTED,
            reason=answer,
            actor=actor,
        )
        audit_append(
            institution=application.institution,
            actor=actor,
            action="permits.application.answer",
            target=application,
            changes={"status": [previous, application.status], "answer": answer, "data": application.data},
        )
        if application.permit_type.cluster_id:
            from apps.permits import tasks

            application_id, institution_id = application.pk, application.institution_id
            transaction.on_commit(
                lambda: tasks.application_review_start_task.delay(
                    application_id=application_id, institution_id=institution_id
                )
            )
    except BaseException:
        _on_rollback_delete(stored)()
        raise
    return application


@transaction.atomic
def application_withdraw(*, application: PermitApplication, actor) -> PermitApplication:
    """The applicant takes back an open application.

    Raises: PermissionDenied, InvalidTransition."""
    if application.applicant_id != getattr(actor, "pk", None):
        raise PermissionDenied(_("Only the applicant can withdraw the application."))
    application = _locked(application)
    _move(application, ApplicationStatus.WITHDRAWN, actor=actor, action="permits.application.withdraw")
    return application


# --- Renewal ---------------------------------------------------------------------------------

RENEWABLE_STATUSES = frozenset({PermitStatus.ACTIVE, PermitStatus.EXPIRED})


def renewal_open(permit: Permit) -> PermitApplication | None:
    """The renewal of this permit still under way, if any."""
    return (
        PermitApplication.all_institutions.filter(renews=permit)  # tenancy: the permit's own
        .exclude(status__in=[ApplicationStatus.REFUSED, ApplicationStatus.WITHDRAWN, ApplicationStatus.ISSUED])
        .first()
    )


@transaction.atomic
def application_renew(
    *, permit: Permit, applicant, data: dict | None = None, files: dict | None = None
) -> PermitApplication:
    """The holder applies to renew an active or expired permit: the previous answers and attachments
    unless given anew, reviewed like any application; once issued, the new permit starts where the old
    one ends. One renewal under way at a time.

    Raises: PermissionDenied, ValidationFailed, Conflict, InvalidTransition."""
    if permit.holder_id != getattr(applicant, "pk", None):
        raise PermissionDenied(_("Only the holder renews the permit."))
    permit = _permit_locked(permit)
    if permit.status not in RENEWABLE_STATUSES:
        raise InvalidTransition(_("A suspended or revoked permit cannot be renewed."))
    if renewal_open(permit) is not None:
        raise Conflict(_("A renewal of this permit is already under way."))
    if data is not None and not isinstance(data, dict):
        raise ValidationFailed(errors={"data": [_("The answers must be an object.")]})
    previous = permit.application
    answers = {**previous.data, **(data or {})}
    carried = [a for a in previous.attachments if a["name"] not in (files or {})]
    application = application_create(
        permit_type=permit.permit_type, applicant=applicant, data=answers, files=files, submit=False
    )
    application.renews = permit
    application.attachments = carried + application.attachments
    application.save(update_fields=["renews", "attachments"])
    audit_append(
        institution=permit.institution,
        actor=applicant,
        action="permits.permit.renew",
        target=permit,
        changes={"application": application.pk},
    )
    _submit(application, actor=applicant)
    return application


# --- Enforcement ------------------------------------------------------------------------------


def _permit_locked(permit: Permit) -> Permit:
    return (
        Permit.all_institutions.select_for_update()  # tenancy: the row given
        .select_related("credential", "institution", "holder", "permit_type")
        .get(pk=permit.pk)
    )


def _enforce(*, permit: Permit, actor, reason: str, to: str, credential_change, action: str, title: str) -> Permit:
    """`actor` None is the node itself (an overdue violation suspends, its cure reinstates)."""
    if actor is not None:
        _require(
            actor=actor,
            institution=permit.institution,
            roles=ADMIN_ROLES,
            message=_("Only the institution's administrators suspend, revoke or reinstate permits."),
        )
    reason = _reason(reason, required=True, message=_("Give a reason; the holder reads it."))
    permit = _permit_locked(permit)
    previous = permit.status
    permit.transition_to(to)
    permit.status_reason = reason
    permit.save(update_fields=["status", "status_reason"])
    # the status list bit: any verifier sees it at once
    credential_change(credential=permit.credential, actor=actor, reason=reason)
    audit_append(
        institution=permit.institution,
        actor=actor,
        action=action,
        target=permit,
        changes={"status": [previous, permit.status], "reason": reason},
    )
    notification_send(
        institution=permit.institution,
        recipient=permit.holder,
        title=title % {"type": permit.permit_type.name},
        body=reason,
        url=f"/i/{permit.institution.slug}/permits/permits/{permit.pk}/",
        actor=actor,
    )
    return permit


@transaction.atomic
def permit_suspend(*, permit: Permit, actor, reason: str) -> Permit:
    """Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    return _enforce(
        permit=permit,
        actor=actor,
        reason=reason,
        to=PermitStatus.SUSPENDED,
        credential_change=credential_services.credential_suspend,
        action="permits.permit.suspend",
        title=_("Your %(type)s permit is suspended"),
    )


@transaction.atomic
def permit_reinstate(*, permit: Permit, actor, reason: str) -> Permit:
    """Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    return _enforce(
        permit=permit,
        actor=actor,
        reason=reason,
        to=PermitStatus.ACTIVE,
        credential_change=credential_services.credential_reinstate,
        action="permits.permit.reinstate",
        title=_("Your %(type)s permit is reinstated"),
    )


@transaction.atomic
def permit_revoke(*, permit: Permit, actor, reason: str) -> Permit:
    """Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    return _enforce(
        permit=permit,
        actor=actor,
        reason=reason,
        to=PermitStatus.REVOKED,
        credential_change=credential_services.credential_revoke,
        action="permits.permit.revoke",
        title=_("Your %(type)s permit is revoked"),
    )


@transaction.atomic
def permit_expire(*, permit: Permit, now=None) -> Permit:
    """The node marks a permit past its end as expired (its credential's validUntil already says so to
    verifiers). Idempotent."""
    now = now or timezone.now()
    permit = _permit_locked(permit)
    if permit.status not in {PermitStatus.ACTIVE, PermitStatus.SUSPENDED} or permit.valid_until > now:
        return permit
    previous = permit.status
    permit.transition_to(PermitStatus.EXPIRED)
    permit.save(update_fields=["status"])
    audit_append(
        institution=permit.institution,
        actor=None,
        action="permits.permit.expire",
        target=permit,
        changes={"status": [previous, permit.status]},
    )
    return permit


@transaction.atomic
def permit_remind(*, permit: Permit, now=None) -> Permit:
    """Tell the holder once that the permit ends within REMINDER_DAYS. Idempotent."""
    now = now or timezone.now()
    permit = _permit_locked(permit)
    if (
        permit.status != PermitStatus.ACTIVE
        or permit.reminded_at
        or not now < permit.valid_until <= now + timedelta(days=REMINDER_DAYS)
    ):
        return permit
    permit.reminded_at = now
    permit.save(update_fields=["reminded_at"])
    notification_send(
        institution=permit.institution,
        recipient=permit.holder,
        title=_("Your %(type)s permit ends on %(date)s")
        % {"type": permit.permit_type.name, "date": permit.valid_until.date().isoformat()},
        url=f"/i/{permit.institution.slug}/permits/permits/{permit.pk}/",
    )
    audit_append(
        institution=permit.institution,
        actor=None,
        action="permits.permit.remind",
        target=permit,
        changes={"valid_until": permit.valid_until},
    )
    return permit


def permits_expiry_sweep(*, now=None) -> tuple[int, int]:
    """Expire what ended and remind what ends soon, each permit in its own transaction. (expired, reminded)"""
    now = now or timezone.now()
    live = [PermitStatus.ACTIVE, PermitStatus.SUSPENDED]
    # tenancy: the node's beat sweeps every institution's permits; each change is audited in its own
    ended = list(Permit.all_institutions.filter(status__in=live, valid_until__lte=now).values_list("pk", flat=True))
    soon = list(
        Permit.all_institutions.filter(  # tenancy: as above
            status=PermitStatus.ACTIVE,
            reminded_at__isnull=True,
            valid_until__gt=now,
            valid_until__lte=now + timedelta(days=REMINDER_DAYS),
        ).values_list("pk", flat=True)
    )
    from apps.tenancy.scope import institution_scope

    for pk in ended + soon:
        permit = Permit.all_institutions.select_related("institution").get(pk=pk)  # tenancy: as above
        with institution_scope(permit.institution):  # notifications and audit in the permit's own scope
            if pk in ended:
                permit_expire(permit=permit, now=now)
            else:
                permit_remind(permit=permit, now=now)
    return len(ended), len(soon)

"""Writes of residence requests: apply, approve, reject, withdraw; each audited in its transaction."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_append
from apps.identity.credentials.services import credential_issue, user_did_ensure
from apps.identity.models import ResidenceRequest, ResidenceRequestStatus, User
from apps.identity.residence import uploads
from apps.notifications.services import notification_send
from apps.tenancy.models import Institution, InstitutionKind, Role
from apps.tenancy.selectors import roles_of
from apps.tenancy.services import membership_grant
from portal.errors import Conflict, PermissionDenied, ValidationFailed

RESIDENCE_CREDENTIAL_TYPE = "ResidenceCredential"
# A residence credential is re-proved yearly: people move, and a stale one should lapse on its own.
RESIDENCE_VALID_DAYS = 365
REASON_MAX_CHARS = 500
# Who decides residence requests: casework, not administration.
RESIDENCE_DECIDER_ROLES = frozenset({Role.CIVIL_SERVANT})

_FIELD_LIMITS = {"address_line1": 200, "address_line2": 200, "postcode": 20, "city": 100}


def _validate_address(*, address_line1: str, address_line2: str, postcode: str, city: str) -> dict[str, str]:
    values = {
        "address_line1": (address_line1 or "").strip(),
        "address_line2": (address_line2 or "").strip(),
        "postcode": (postcode or "").strip(),
        "city": (city or "").strip(),
    }
    errors: dict[str, list[str]] = {}
    required = {
        "address_line1": _("Enter the street and number."),
        "postcode": _("Enter the postcode."),
        "city": _("Enter the town or city."),
    }
    for field, message in required.items():
        if not values[field]:
            errors[field] = [message]
    for field, limit in _FIELD_LIMITS.items():
        if len(values[field]) > limit:
            errors[field] = [_("Keep this under %(n)s characters.") % {"n": limit}]
    if errors:
        raise ValidationFailed(errors=errors)
    return values


@transaction.atomic
def residence_request_submit(
    *,
    applicant: User,
    municipality: Institution,
    address_line1: str,
    address_line2: str = "",
    postcode: str,
    city: str,
    document=None,
) -> ResidenceRequest:
    """Ask a municipality to confirm the applicant's residence; the applicant need not be a member yet.

    Raises: ValidationFailed, Conflict."""
    if not isinstance(municipality, Institution) or municipality.kind != InstitutionKind.MUNICIPALITY:
        raise ValidationFailed(errors={"municipality": [_("Choose a municipality.")]})
    values = _validate_address(address_line1=address_line1, address_line2=address_line2, postcode=postcode, city=city)
    kind = uploads.document_kind(document) if document else None
    open_requests = ResidenceRequest.all_institutions.filter(  # tenancy: the chosen municipality, explicitly
        institution=municipality, applicant=applicant, status=ResidenceRequestStatus.SUBMITTED
    )
    if open_requests.exists():
        raise Conflict(_("You already have a request waiting at %(m)s.") % {"m": municipality.name})
    stored = uploads.document_store(document, kind) if kind else ""
    try:
        residence_request = ResidenceRequest(
            institution=municipality,
            applicant=applicant,
            document_path=stored,
            document_name=(document.name or "")[:200] if kind else "",
            document_content_type=kind.content_type if kind else "",
            **values,
        )
        with transaction.atomic():
            residence_request.save()
        audit_append(
            institution=municipality,
            actor=applicant,
            action="identity.residence.submit",
            target=residence_request,
            changes={"postcode": values["postcode"], "city": values["city"], "document": bool(stored)},
        )
    except IntegrityError as exc:  # a second request raced the check above
        uploads.document_delete(stored)
        raise Conflict(_("You already have a request waiting at %(m)s.") % {"m": municipality.name}) from exc
    except BaseException:
        uploads.document_delete(stored)  # the row is not there: the file must not stay either
        raise
    return residence_request


def _require_decider(*, actor, institution: Institution) -> None:
    if not roles_of(user=actor, institution=institution) & RESIDENCE_DECIDER_ROLES:
        raise PermissionDenied(_("Only the municipality's civil servants can decide residence requests."))


def _locked(residence_request: ResidenceRequest) -> ResidenceRequest:
    return ResidenceRequest.all_institutions.select_for_update().get(pk=residence_request.pk)  # tenancy: the row given


def residence_subject(*, did: str, residence_request: ResidenceRequest) -> dict:
    """The credential's claims: where (locality and postcode only, not the street) and which municipality."""
    municipality = residence_request.institution
    return {
        "id": did,
        "address": {
            "type": "PostalAddress",
            "addressLocality": residence_request.city,
            "postalCode": residence_request.postcode,
        },
        "municipality": {"id": municipality.did, "name": municipality.name},
    }


@transaction.atomic
def residence_request_approve(*, residence_request: ResidenceRequest, actor: User) -> ResidenceRequest:
    """Confirm the residence: issue the ResidenceCredential to the applicant's did:key, make them a
    citizen of the municipality, notify them.

    Raises: PermissionDenied, InvalidTransition."""
    municipality = residence_request.institution
    _require_decider(actor=actor, institution=municipality)
    residence_request = _locked(residence_request)
    previous = residence_request.status
    residence_request.transition_to(ResidenceRequestStatus.APPROVED)
    applicant = residence_request.applicant
    did = user_did_ensure(user=applicant)
    now = timezone.now()
    credential = credential_issue(
        institution=municipality,
        subject=residence_subject(did=did, residence_request=residence_request),
        types=[RESIDENCE_CREDENTIAL_TYPE],
        valid_from=now,
        valid_until=now + timedelta(days=RESIDENCE_VALID_DAYS),
        actor=actor,
    )
    if Role.CITIZEN not in roles_of(user=applicant, institution=municipality):
        # The node grants the membership on the civil servant's decision (membership_grant wants an
        # administrator otherwise); the decision itself is audited below with the civil servant as actor.
        membership_grant(institution=municipality, user=applicant, role=Role.CITIZEN, actor=None)
    residence_request.decided_by = actor
    residence_request.decided_at = now
    residence_request.credential = credential
    residence_request.save(update_fields=["status", "decided_by", "decided_at", "credential"])
    audit_append(
        institution=municipality,
        actor=actor,
        action="identity.residence.approve",
        target=residence_request,
        changes={"status": [previous, residence_request.status], "credential": str(credential.uuid)},
    )
    notification_send(
        institution=municipality,
        recipient=applicant,
        title=_("Your residence in %(m)s is confirmed") % {"m": municipality.name},
        body=_("Your residence credential is in your wallet."),
        url=reverse("wallet:home"),
        actor=actor,
    )
    return residence_request


@transaction.atomic
def residence_request_reject(*, residence_request: ResidenceRequest, actor: User, reason: str) -> ResidenceRequest:
    """Refuse the request with a reason the applicant reads.

    Raises: ValidationFailed, PermissionDenied, InvalidTransition."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(errors={"reason": [_("Say why the request is rejected; the applicant reads it.")]})
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed(
            errors={"reason": [_("Keep the reason under %(n)s characters.") % {"n": REASON_MAX_CHARS}]}
        )
    municipality = residence_request.institution
    _require_decider(actor=actor, institution=municipality)
    residence_request = _locked(residence_request)
    previous = residence_request.status
    residence_request.transition_to(ResidenceRequestStatus.REJECTED)
    residence_request.decided_by = actor
    residence_request.decided_at = timezone.now()
    residence_request.decision_reason = reason
    residence_request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    audit_append(
        institution=municipality,
        actor=actor,
        action="identity.residence.reject",
        target=residence_request,
        changes={"status": [previous, residence_request.status], "reason": reason},
    )
    notification_send(
        institution=municipality,
        recipient=residence_request.applicant,
        title=_("Your residence request to %(m)s was rejected") % {"m": municipality.name},
        body=reason,
        url=reverse("residence:mine"),
        actor=actor,
    )
    return residence_request


@transaction.atomic
def residence_request_withdraw(*, residence_request: ResidenceRequest, actor: User) -> ResidenceRequest:
    """The applicant takes back a request that is still waiting.

    Raises: PermissionDenied, InvalidTransition."""
    if residence_request.applicant_id != actor.pk:
        raise PermissionDenied(_("Only the applicant can withdraw a request."))
    residence_request = _locked(residence_request)
    previous = residence_request.status
    residence_request.transition_to(ResidenceRequestStatus.WITHDRAWN)
    residence_request.save(update_fields=["status"])
    audit_append(
        institution=residence_request.institution,
        actor=actor,
        action="identity.residence.withdraw",
        target=residence_request,
        changes={"status": [previous, residence_request.status]},
    )
    return residence_request

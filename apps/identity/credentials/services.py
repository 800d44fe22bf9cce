"""Writes of verifiable credentials: issue, revoke, suspend, reinstate; each audited.

Every app issues through `credential_issue`: the institution's key signs (one is created
on first use), the credential gets a revocation and a suspension entry in the
institution's Bitstring Status Lists, and the signed document is stored as issued.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_append
from apps.identity import did as dids
from apps.identity.credentials import dataintegrity
from apps.identity.credentials.status import empty_bits, status_entry
from apps.identity.credentials.vc import VC_CONTEXT, xsd_datetime
from apps.identity.models import (
    Credential,
    CredentialStatus,
    KeyOwnerType,
    KeyStatus,
    SigningKey,
    StatusList,
    StatusPurpose,
    User,
)
from apps.identity.services import signing_key_create, signing_key_sign
from portal.errors import PermissionDenied, ValidationFailed

TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
REASON_MAX_CHARS = 500
# Who may change the status of an institution's credentials.
STATUS_ROLES = frozenset({"institution_admin", "civil_servant"})


def institution_signer(institution) -> tuple[str, Callable[[bytes], bytes], str]:
    """(key's multibase, a signing function, the institution's DID); creates the key on first use."""
    key = SigningKey.objects.filter(
        owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk), status=KeyStatus.ACTIVE
    ).first()
    if key is None:
        key = signing_key_create(
            owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk), institution=institution
        )
    return (
        dids.multikey_encode(bytes(key.public_key)),
        lambda message: signing_key_sign(key=key, message=message),
        (dids.institution_did_for(institution)),
    )


def _status_allocate(*, institution, purpose: str) -> tuple[StatusList, int]:
    status_list = (
        StatusList.all_institutions.select_for_update()  # tenancy: explicit institution filter
        .filter(institution=institution, purpose=purpose)
        .defer("bits")  # 16 KB the allocation does not need
        .order_by("-number")
        .first()
    )
    if status_list is None or status_list.next_index >= status_list.size:
        status_list = StatusList(
            institution=institution,
            purpose=purpose,
            number=status_list.number + 1 if status_list else 1,
            bits=empty_bits(),
        )
        status_list.save()
    status_list.institution = institution  # the entry's URL names it: no query to fetch it again
    index = status_list.next_index
    status_list.next_index += 1
    status_list.save(update_fields=["next_index", "updated_at"])
    return status_list, index


def _status_set(*, status_list_id: int, index: int, value: bool) -> None:
    status_list = StatusList.all_institutions.select_for_update().get(pk=status_list_id)  # tenancy: by the row's key
    bits = bytearray(bytes(status_list.bits))
    mask = 0x80 >> (index % 8)
    bits[index // 8] = bits[index // 8] | mask if value else bits[index // 8] & ~mask
    status_list.bits = bytes(bits)
    status_list.save(update_fields=["bits", "updated_at"])


def _validate_issue(*, subject, types, valid_from: datetime, valid_until: datetime | None) -> None:
    errors: dict[str, list[str]] = {}
    if not isinstance(subject, dict) or not subject:
        errors["subject"] = [_("The credential subject must be a JSON object with at least one claim.")]
    else:
        try:
            dataintegrity.canonicalize(subject)
        except dataintegrity.ProofError:
            errors["subject"] = [_("The credential subject must contain only JSON values (no NaN, no huge numbers).")]
        if "id" in subject and not isinstance(subject["id"], str):
            errors["subject"] = [_("The subject's id must be a string (a DID or URL).")]
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and TYPE_NAME.match(t) for t in types):
        errors["types"] = [_("Give at least one credential type, each a name of letters, digits, '.', '_' or '-'.")]
    if timezone.is_naive(valid_from) or (valid_until is not None and timezone.is_naive(valid_until)):
        errors["valid_from"] = [_("Validity times must carry a time zone.")]
    elif valid_until is not None and valid_until <= valid_from:
        errors["valid_until"] = [_("A credential must end after it starts.")]
    if errors:
        raise ValidationFailed(errors=errors)


@transaction.atomic
def credential_issue(
    *,
    institution,
    subject: dict,
    types: list[str],
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    actor=None,
) -> Credential:
    """Issue a verifiable credential signed by the institution, with status entries; audited.

    Raises: ValidationFailed."""
    valid_from = (valid_from or timezone.now()).replace(microsecond=0)
    valid_until = valid_until.replace(microsecond=0) if valid_until else None
    _validate_issue(subject=subject, types=types, valid_from=valid_from, valid_until=valid_until)
    key_multibase, sign, issuer = institution_signer(institution)
    revocation_list, revocation_index = _status_allocate(institution=institution, purpose=StatusPurpose.REVOCATION)
    suspension_list, suspension_index = _status_allocate(institution=institution, purpose=StatusPurpose.SUSPENSION)
    credential_uuid = uuid.uuid4()
    document = {
        "@context": [VC_CONTEXT],
        "id": f"urn:uuid:{credential_uuid}",
        "type": ["VerifiableCredential", *[t for t in types if t != "VerifiableCredential"]],
        "issuer": {"id": issuer, "name": institution.name},
        "validFrom": xsd_datetime(valid_from),
        "credentialSubject": subject,
        "credentialStatus": [
            status_entry(revocation_list, revocation_index),
            status_entry(suspension_list, suspension_index),
        ],
    }
    if valid_until:
        document["validUntil"] = xsd_datetime(valid_until)
    signed = dataintegrity.secure(
        document,
        sign=sign,
        verification_method=f"{issuer}#{key_multibase}",
        proof_purpose="assertionMethod",
        created=xsd_datetime(timezone.now()),
    )
    credential = Credential(
        institution=institution,
        uuid=credential_uuid,
        types=document["type"][1:],
        subject_id=subject.get("id", ""),
        issuer_did=issuer,
        key_id=key_multibase,
        document=signed,
        valid_from=valid_from,
        valid_until=valid_until,
        revocation_list=revocation_list,
        revocation_index=revocation_index,
        suspension_list=suspension_list,
        suspension_index=suspension_index,
        issued_by=actor if isinstance(actor, User) else None,
    )
    credential.save()
    audit_append(
        institution=institution,
        actor=actor,
        action="identity.credential.issue",
        target=credential,
        changes={
            "id": document["id"],
            "types": credential.types,
            "subject": credential.subject_id,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "key": key_multibase,
        },
    )
    return credential


def _require_status_role(*, actor, institution) -> None:
    from apps.tenancy.selectors import roles_of

    if isinstance(actor, User) and not roles_of(user=actor, institution=institution) & STATUS_ROLES:
        raise PermissionDenied(
            _("Only institution administrators and civil servants can change a credential's status.")
        )


def _change_status(*, credential: Credential, actor, reason: str, to: str, action: str) -> Credential:
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed(
            errors={"reason": [_("Keep the reason under %(n)s characters.") % {"n": REASON_MAX_CHARS}]}
        )
    _require_status_role(actor=actor, institution=credential.institution)
    credential = Credential.all_institutions.select_for_update().get(pk=credential.pk)  # tenancy: the row given
    previous = credential.status
    credential.transition_to(to)
    if to == CredentialStatus.REVOKED:
        _status_set(status_list_id=credential.revocation_list_id, index=credential.revocation_index, value=True)
    else:  # suspend sets the suspension bit, reinstate clears it
        _status_set(
            status_list_id=credential.suspension_list_id,
            index=credential.suspension_index,
            value=to == CredentialStatus.SUSPENDED,
        )
    credential.status_changed_at = timezone.now()
    credential.save(update_fields=["status", "status_changed_at"])
    audit_append(
        institution=credential.institution,
        actor=actor,
        action=action,
        target=credential,
        changes={"status": [previous, credential.status], "reason": reason},
    )
    return credential


@transaction.atomic
def credential_revoke(*, credential: Credential, actor=None, reason: str = "") -> Credential:
    """Revoke a credential for good (its revocation bit is set).

    Raises: InvalidTransition, PermissionDenied, ValidationFailed."""
    return _change_status(
        credential=credential,
        actor=actor,
        reason=reason,
        to=CredentialStatus.REVOKED,
        action="identity.credential.revoke",
    )


@transaction.atomic
def credential_suspend(*, credential: Credential, actor=None, reason: str = "") -> Credential:
    """Suspend an active credential until it is reinstated.

    Raises: InvalidTransition, PermissionDenied, ValidationFailed."""
    return _change_status(
        credential=credential,
        actor=actor,
        reason=reason,
        to=CredentialStatus.SUSPENDED,
        action="identity.credential.suspend",
    )


@transaction.atomic
def credential_reinstate(*, credential: Credential, actor=None, reason: str = "") -> Credential:
    """Lift a suspension.

    Raises: InvalidTransition, PermissionDenied, ValidationFailed."""
    return _change_status(
        credential=credential,
        actor=actor,
        reason=reason,
        to=CredentialStatus.ACTIVE,
        action="identity.credential.reinstate",
    )


@transaction.atomic
def user_did_ensure(*, user: User) -> str:
    """The person's did:key, created with a key of their own on first use; audited with the key."""
    key = SigningKey.objects.filter(
        owner_type=KeyOwnerType.USER, owner_id=str(user.pk), status=KeyStatus.ACTIVE
    ).first()
    if key is None:
        key = signing_key_create(owner_type=KeyOwnerType.USER, owner_id=str(user.pk), actor=user)
    did = dids.did_key_from_public_key(bytes(key.public_key))
    if user.did != did:
        user.did = did
        user.save(update_fields=["did"])
        audit_append(institution=None, actor=user, action="identity.user.did", target=user, changes={"did": did})
    return did

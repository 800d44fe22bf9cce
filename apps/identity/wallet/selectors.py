"""Reads of a person's wallet: only ever their own credentials and presentations."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from apps.identity import did as dids
from apps.identity.credentials.verify import verify_credential
from apps.identity.models import Credential, KeyOwnerType, Presentation, SigningKey

WALLET_MAX_CREDENTIALS = 100


def holder_dids(*, user) -> list[str]:
    """Every did:key the person has held: credentials issued to a retired key stay theirs."""
    keys = SigningKey.objects.filter(owner_type=KeyOwnerType.USER, owner_id=str(user.pk)).values_list(
        "public_key", flat=True
    )
    found = {dids.did_key_from_public_key(bytes(public_key)) for public_key in keys}
    if user.did:
        found.add(user.did)
    return sorted(found)


def credentials_held(*, user) -> QuerySet[Credential]:
    did_list = holder_dids(user=user)
    if not did_list:
        return Credential.all_institutions.none()  # tenancy: nothing to query
    return (
        Credential.all_institutions.filter(subject_id__in=did_list)  # tenancy: the holder's own, from any issuer
        .select_related("institution")
        .order_by("-created_at", "-pk")
    )


def credential_held_get(*, user, credential_id) -> Credential:
    """Raises: Http404 unless the credential was issued to this person."""
    credential = credentials_held(user=user).filter(uuid=credential_id).first()
    if credential is None:
        raise Http404
    return credential


@dataclass(frozen=True)
class HeldCredential:
    credential: Credential
    state: str  # valid, suspended, revoked, expired, not_yet_valid or invalid
    errors: list[dict]


def _state(result: dict) -> str:
    codes = {error["code"] for error in result["errors"]}
    for code in ("revoked", "suspended", "expired", "not_yet_valid"):
        if code in codes:
            return code
    return "valid" if result["verified"] else "invalid"


def credential_state(credential: Credential) -> HeldCredential:
    """What a verifier would say now: the signed document is verified, the stored status is not trusted."""
    result = verify_credential(credential.document)
    return HeldCredential(credential=credential, state=_state(result), errors=result["errors"])


def credentials_held_with_state(*, user) -> list[HeldCredential]:
    return [credential_state(c) for c in credentials_held(user=user)[:WALLET_MAX_CREDENTIALS]]


def presentations_of(*, user) -> QuerySet[Presentation]:
    return Presentation.objects.filter(holder=user).select_related("credential").order_by("-created_at", "-pk")


def presentation_get(*, user, presentation_id) -> Presentation:
    """Raises: Http404 unless the presentation is this person's."""
    presentation = presentations_of(user=user).filter(uuid=presentation_id).first()
    if presentation is None:
        raise Http404
    return presentation

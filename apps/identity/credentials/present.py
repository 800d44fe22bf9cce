"""Verifiable presentations, signed by the holder's did:key for authentication."""

from __future__ import annotations

from django.utils import timezone

from apps.identity import did as dids
from apps.identity.credentials import dataintegrity
from apps.identity.credentials.vc import VC_CONTEXT, xsd_datetime
from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey
from apps.identity.services import signing_key_sign


def presentation_create(*, holder_key: SigningKey, credentials: list[dict], challenge: str, domain: str = "") -> dict:
    """A presentation of credentials, bound to the verifier's challenge (and domain) by the holder's signature."""
    holder = dids.did_key_from_public_key(bytes(holder_key.public_key))
    document = {
        "@context": [VC_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": holder,
        "verifiableCredential": list(credentials),
    }
    return dataintegrity.secure(
        document,
        sign=lambda message: signing_key_sign(key=holder_key, message=message),
        verification_method=dids.did_key_verification_method(holder),
        proof_purpose="authentication",
        created=xsd_datetime(timezone.now()),
        challenge=challenge,
        domain=domain,
    )


def user_key(*, user) -> SigningKey:
    """The person's active key (see `user_did_ensure`, which creates it)."""
    return SigningKey.objects.get(owner_type=KeyOwnerType.USER, owner_id=str(user.pk), status=KeyStatus.ACTIVE)

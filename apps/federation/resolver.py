"""Where a sender's verification key comes from.

Until the identity work's DID resolver (`apps/identity/did.py`) exists, only DIDs of
institutions on this node resolve: by their active or retired institution signing keys
(retired keys still verify what they signed). When the resolver lands, this one function
switches to it; nothing else in the app knows how keys are found.
"""

from __future__ import annotations

from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey
from apps.tenancy.models import Institution


def local_institution_for_did(did: str) -> Institution | None:
    """The institution on this node with this DID, if any."""
    if not did:
        return None
    return Institution.objects.filter(did=did).first()


def resolve_verification_key(did: str, key_id: str) -> bytes | None:
    """The raw Ed25519 public key `key_id` of `did`, or None when it does not resolve."""
    institution = local_institution_for_did(did)
    if institution is None:
        return None
    key = (
        SigningKey.objects.filter(
            owner_type=KeyOwnerType.INSTITUTION,
            owner_id=str(institution.pk),
            key_id=key_id,
            status__in=[KeyStatus.ACTIVE, KeyStatus.RETIRED],
        )
        .only("public_key")
        .first()
    )
    return bytes(key.public_key) if key is not None else None

"""Eligibility from credentials: apps ask here instead of trusting a form field or a stored flag.

`resident_of` verifies the person's ResidenceCredential from the municipality as any verifier
would (signature and issuer key, validity dates, revocation and suspension lists), every time.
"""

from __future__ import annotations

from apps.identity.credentials.vc import issuer_id
from apps.identity.credentials.verify import verify_credential
from apps.identity.residence.services import RESIDENCE_CREDENTIAL_TYPE
from apps.identity.wallet.selectors import credentials_held, holder_dids

# Verifications tried, newest credential first, before answering no.
CANDIDATES_MAX = 5


def _is_residence_of(document: dict, *, institution, subject_dids: set[str]) -> bool:
    """What the signed document says, not what the row next to it says."""
    types = document.get("type") or []
    subject = document.get("credentialSubject") or {}
    municipality = subject.get("municipality") if isinstance(subject, dict) else None
    return (
        isinstance(types, list)
        and RESIDENCE_CREDENTIAL_TYPE in types
        and issuer_id(document) == institution.did
        and isinstance(municipality, dict)
        and municipality.get("id") == institution.did
        and subject.get("id") in subject_dids
    )


def resident_of(*, user, institution) -> bool:
    """Whether the person holds a residence credential of this municipality that verifies now."""
    if not getattr(user, "is_authenticated", False) or not institution.did:
        return False
    subject_dids = set(holder_dids(user=user))
    tried = 0
    for document in credentials_held(user=user).filter(institution=institution).values_list("document", flat=True):
        if not _is_residence_of(document, institution=institution, subject_dids=subject_dids):
            continue
        if verify_credential(document)["verified"]:
            return True
        tried += 1
        if tried >= CANDIDATES_MAX:
            break
    return False

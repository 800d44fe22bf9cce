"""Where a sender's verification key comes from: its DID document, through the identity resolver.

The envelope's `kid` is a DID URL, `<sender DID>#<fragment>`, naming a verification
method of the sender's DID document exactly as `apps/identity/did.py` publishes it (the
fragment is the key's Multikey). `resolve_verification_method` finds the document: this
node's own DIDs from the database, any other did:web over HTTPS with its guards (public
addresses only, no redirects, size limit, `id` check, 5 minutes' cache). A retired key
stays in its document with the time it was revoked; the caller compares that with the
envelope's time.

Kids written before envelopes named DID URLs (`#ed25519:<hex>`, the key's fingerprint in
`SigningKey.key_id`) still resolve: the fingerprint is matched against the keys the same
document lists, so old envelopes keep verifying whichever node sent them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from apps.identity import did as dids
from apps.identity import keys
from apps.tenancy.models import Institution

LEGACY_KID_PREFIX = "ed25519:"


@dataclass(frozen=True)
class VerificationKey:
    """A sender's public key and, for a retired key, when it stopped signing."""

    public_key: bytes
    revoked_at: datetime | None = None
    # The revocation time is present but unreadable: treat every signature as made after it.
    revoked_unreadable: bool = False

    def valid_at(self, moment: datetime) -> bool:
        if self.revoked_unreadable:
            return False
        return self.revoked_at is None or moment <= self.revoked_at


def local_institution_for_did(did: str) -> Institution | None:
    """The institution on this node with this DID, if any."""
    if not did:
        return None
    return Institution.objects.filter(did=did).first()


def resolve_verification_key(did: str, key_id: str) -> VerificationKey | None:
    """The key `<did>#<key_id>` as the DID's document publishes it, or None when it does not resolve."""
    if not did.startswith("did:web:"):
        # Envelopes travel between institutions, which are did:web; a did:key (a person, an
        # agent) costs nothing to make and would let anyone ping an institution's administrators.
        return None
    try:
        if key_id.startswith(LEGACY_KID_PREFIX):
            method = _method_by_fingerprint(did, key_id)
        else:
            method, _document = dids.resolve_verification_method(f"{did}#{key_id}")
        if method is None or method.get("controller", did) != did:
            return None
        public_key = dids.method_public_key(method)
    except dids.DidResolutionError:
        return None
    revoked = method.get("revoked")
    if not revoked:
        return VerificationKey(public_key)
    revoked_at = _parse_time(revoked)
    return VerificationKey(public_key, revoked_at, revoked_unreadable=revoked_at is None)


def _method_by_fingerprint(did: str, fingerprint: str) -> dict | None:
    for method in dids.resolve(did).get("verificationMethod") or []:
        if not isinstance(method, dict):
            continue
        try:
            if keys.key_fingerprint(dids.method_public_key(method)) == fingerprint:
                return method
        except dids.DidResolutionError:
            continue
    return None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

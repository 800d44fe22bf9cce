"""The envelope format: building, canonical bytes, signing input, strict parsing.

Wire form (a JSON object, also what the outbox and inbox store and the pages show):

    {
      "v": 1,
      "id": "<UUID>",
      "type": "federation.ping",
      "sender": "did:web:<host>:institutions:<slug>",
      "recipient": "did:web:<host>:institutions:<slug>",
      "time": "2026-11-25T15:00:00Z",
      "body_digest": "<hex SHA-256 of the RFC 8785 canonical body>",
      "body": {...},
      "signature": "<JWS compact, detached payload: header..signature>"
    }

The signature is a JWS (RFC 7515) with `alg` EdDSA (Ed25519, RFC 8037) and a detached
payload (RFC 7515 appendix F): the payload is the RFC 8785 canonical JSON of every
member except `body` and `signature`. The body is bound through `body_digest`, so a
verifier can check the signature without the body, and the audit log records the digest
only. The header's `kid` is the DID URL of the verification method as the sender's DID
document publishes it, `<sender DID>#<Multikey>` (`apps/identity/did.py`), so any node
that resolves the DID finds the key.

Nothing here touches the database; key resolution is in `resolver.py`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from django.utils.translation import gettext as _

from portal.errors import ApplicationError

ENVELOPE_VERSION = 1
MAX_ENVELOPE_BYTES = 256 * 1024
JWS_TYP = "civitas-envelope+jws"
SIGNED_MEMBERS = ("v", "id", "type", "sender", "recipient", "time", "body_digest")
ALL_MEMBERS = frozenset((*SIGNED_MEMBERS, "body", "signature"))

DID_RE = re.compile(r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$")
TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
_B64URL = r"[A-Za-z0-9_-]+"
_DETACHED_JWS_RE = re.compile(rf"^({_B64URL})\.\.({_B64URL})$")


class EnvelopeRejected(ApplicationError):
    """An envelope this node will not accept; `code` says why, stably."""

    code = "envelope_rejected"
    status = 400
    title = _("The envelope was rejected.")


def reject(code: str, message: str, *, status: int = 400) -> EnvelopeRejected:
    return EnvelopeRejected(message, code=code).with_status(status)  # type: ignore[return-value]


@dataclass(frozen=True)
class ParsedEnvelope:
    document: dict[str, Any]
    envelope_id: uuid.UUID
    type: str
    sender: str
    recipient: str
    time: datetime
    body_digest: str
    body: dict[str, Any]
    protected: dict[str, Any]
    protected_b64: str
    signature: bytes
    kid: str

    @property
    def key_id(self) -> str:
        """The fragment of `kid`: the verification method within the sender's DID document."""
        return self.kid.split("#", 1)[1]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes. Raises: EnvelopeRejected for values JCS cannot represent."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise reject("malformed_envelope", _("The envelope body is not canonicalisable JSON: %s") % exc) from exc


def body_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signing_input(*, protected_b64: str, document: dict[str, Any]) -> bytes:
    """What the Ed25519 signature covers: BASE64URL(header) '.' BASE64URL(JCS(signed members))."""
    payload = canonical({name: document[name] for name in SIGNED_MEMBERS})
    return f"{protected_b64}.{b64url(payload)}".encode("ascii")


def protected_header(*, kid: str) -> str:
    return b64url(canonical({"alg": "EdDSA", "kid": kid, "typ": JWS_TYP}))


def unsigned_document(
    *, envelope_id: uuid.UUID, type: str, sender: str, recipient: str, time: datetime, body: dict[str, Any]
) -> dict[str, Any]:
    return {
        "v": ENVELOPE_VERSION,
        "id": str(envelope_id),
        "type": type,
        "sender": sender,
        "recipient": recipient,
        "time": format_time(time),
        "body_digest": body_digest(body),
        "body": body,
    }


def serialize(document: dict[str, Any]) -> bytes:
    """The bytes put on the wire (any JSON will do: the signature is over canonical bytes)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _shape_error(message: str) -> EnvelopeRejected:
    return reject("malformed_envelope", message)


def parse(raw: bytes) -> ParsedEnvelope:
    """Check size and exact shape; nothing is verified yet.

    Raises: EnvelopeRejected (envelope_too_large, malformed_envelope)."""
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise reject(
            "envelope_too_large",
            _("An envelope may have at most %(limit)d bytes.") % {"limit": MAX_ENVELOPE_BYTES},
            status=413,
        )
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _shape_error(_("The envelope is not valid UTF-8 JSON.")) from exc
    if not isinstance(document, dict):
        raise _shape_error(_("The envelope must be a JSON object."))
    if set(document) != ALL_MEMBERS:
        missing, extra = sorted(ALL_MEMBERS - set(document)), sorted(set(document) - ALL_MEMBERS)
        raise _shape_error(
            _("The envelope must have exactly the members %(members)s (missing: %(missing)s; unknown: %(extra)s).")
            % {"members": ", ".join(sorted(ALL_MEMBERS)), "missing": missing or "-", "extra": extra or "-"}
        )
    if document["v"] != ENVELOPE_VERSION or isinstance(document["v"], bool):
        raise _shape_error(_("Unsupported envelope version."))
    strings = ("id", "type", "sender", "recipient", "time", "body_digest", "signature")
    if any(not isinstance(document[name], str) for name in strings):
        raise _shape_error(_("id, type, sender, recipient, time, body_digest and signature must be strings."))
    try:
        envelope_id = uuid.UUID(document["id"])
    except ValueError as exc:
        raise _shape_error(_("id must be a UUID.")) from exc
    if str(envelope_id) != document["id"]:
        raise _shape_error(_("id must be a UUID in its canonical lower-case form."))
    if len(document["type"]) > 100 or not TYPE_RE.match(document["type"]):
        raise _shape_error(_("type must be a dotted lower-case name such as federation.ping."))
    for name in ("sender", "recipient"):
        if len(document[name]) > 300 or not DID_RE.match(document[name]):
            raise _shape_error(_("%(member)s must be a DID.") % {"member": name})
    if not _TIME_RE.match(document["time"]):
        raise _shape_error(_("time must be UTC in the form 2026-01-31T12:00:00Z."))
    try:
        time = datetime.strptime(document["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise _shape_error(_("time is not a valid date and time.")) from exc
    if not _DIGEST_RE.match(document["body_digest"]):
        raise _shape_error(_("body_digest must be 64 lower-case hexadecimal digits."))
    if not isinstance(document["body"], dict):
        raise _shape_error(_("body must be a JSON object."))
    match = _DETACHED_JWS_RE.match(document["signature"])
    if not match:
        raise _shape_error(_("signature must be a JWS in compact form with a detached payload (header..signature)."))
    protected_b64, signature_b64 = match.groups()
    try:
        protected = json.loads(b64url_decode(protected_b64))
        signature = b64url_decode(signature_b64)
    except (binascii.Error, ValueError) as exc:
        raise _shape_error(_("The signature's header or value cannot be decoded.")) from exc
    if not isinstance(protected, dict) or protected.get("alg") != "EdDSA" or not isinstance(protected.get("kid"), str):
        raise _shape_error(_("The signature must be EdDSA and name its key (kid)."))
    if set(protected) - {"alg", "kid", "typ"} or protected.get("typ", JWS_TYP) != JWS_TYP:
        # Unknown header parameters could carry "crit" semantics we do not implement.
        raise _shape_error(_("The signature header has parameters this node does not understand."))
    kid = protected["kid"]
    if not kid.startswith(document["sender"] + "#") or len(kid) <= len(document["sender"]) + 1:
        raise _shape_error(_("The signing key (kid) must be a key of the sender: <sender DID>#<key id>."))
    if len(signature) != 64:
        raise _shape_error(_("An Ed25519 signature has 64 bytes."))
    return ParsedEnvelope(
        document=document,
        envelope_id=envelope_id,
        type=document["type"],
        sender=document["sender"],
        recipient=document["recipient"],
        time=time,
        body_digest=document["body_digest"],
        body=document["body"],
        protected=protected,
        protected_b64=protected_b64,
        signature=signature,
        kid=kid,
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")

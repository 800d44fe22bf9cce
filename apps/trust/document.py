"""The signed document of a threshold proposal, and checking it without the database.

Everything here is pure: it takes plain JSON values and bytes, so any node (or a person
with the exported file) can re-check a proposal independently. The database path
(`services`, `selectors`) uses the same functions, so both always agree.

What an authority signs is `SIGNING_CONTEXT + canonical`, where `canonical` is the RFC
8785 (JCS) serialisation of the document. The context prefix separates these
signatures from anything else an institution key signs (credentials, envelopes), in
the same way the audit log prefixes its tree heads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import rfc8785

from apps.identity import keys

DOCUMENT_FORMAT = "civitas-threshold-proposal-v1"
EXPORT_FORMAT = "civitas-threshold-export-v1"
SIGNING_CONTEXT = b"civitas-threshold-proposal-v1\n"
MAX_SIGNATURES = 500

# Why a signature does or does not count; stable codes for the API and the verifier.
VALID = "valid"
NOT_AN_AUTHORITY = "not_an_authority"
DUPLICATE_AUTHORITY = "duplicate_authority"
BAD_SIGNATURE = "bad_signature"
KEY_MISMATCH = "key_id_mismatch"
UNTRUSTED_KEY = "untrusted_key"
MALFORMED = "malformed"


def build_document(
    *,
    uid: str,
    act_type: str,
    payload: dict[str, Any],
    proposer: dict[str, str],
    policy_name: str,
    k: int,
    authorities: list[dict[str, str]],
    created_at: str,
    expires_at: str,
) -> dict[str, Any]:
    """The document authorities sign; authorities are `{"id": DID, "name": ...}`, sorted by id."""
    return {
        "format": DOCUMENT_FORMAT,
        "id": uid,
        "act_type": act_type,
        "payload": payload,
        "proposer": proposer,
        "policy": {"name": policy_name, "k": k, "authorities": sorted(authorities, key=lambda a: a["id"])},
        "created_at": created_at,
        "expires_at": expires_at,
    }


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON: the same document always gives the same bytes."""
    return rfc8785.dumps(document)


def digest_of(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def signing_message(canonical: bytes) -> bytes:
    return SIGNING_CONTEXT + canonical


def b64(value: bytes) -> str:
    return base64.b64encode(bytes(value)).decode()


def _unb64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return base64.b64decode(value, validate=True)


@dataclass
class SignatureCheck:
    authority: str
    key_id: str
    counted: bool
    reason: str


@dataclass
class Evaluation:
    k: int
    checks: list[SignatureCheck]
    valid_authorities: list[str]

    @property
    def met(self) -> bool:
        return len(self.valid_authorities) >= self.k

    @property
    def count(self) -> int:
        return len(self.valid_authorities)


def evaluate_signatures(
    *,
    document: dict[str, Any],
    canonical: bytes,
    signatures: list[dict[str, Any]],
    trusted_keys: dict[str, set[bytes]] | None = None,
) -> Evaluation:
    """Which signatures count towards the policy's k: one per authority, each verifying.

    `signatures` are `{"authority": DID, "key_id", "public_key": bytes, "signature": bytes}`.
    With `trusted_keys` (authority DID -> its known public keys) a signature must also be
    made with one of its authority's keys; without it, the key id must at least be the
    fingerprint of the key shown (the caller then trusts the keys in the file)."""
    policy = document.get("policy") or {}
    authorities = {a.get("id") for a in policy.get("authorities") or [] if isinstance(a, dict)}
    message = signing_message(canonical)
    counted: list[str] = []
    checks: list[SignatureCheck] = []
    for entry in signatures:
        authority, key_id = str(entry.get("authority", "")), str(entry.get("key_id", ""))
        public_key, signature = entry.get("public_key"), entry.get("signature")
        if not isinstance(public_key, (bytes, memoryview)) or not isinstance(signature, (bytes, memoryview)):
            reason = MALFORMED
        elif authority not in authorities:
            reason = NOT_AN_AUTHORITY
        elif keys.key_fingerprint(bytes(public_key)) != key_id:
            reason = KEY_MISMATCH
        elif trusted_keys is not None and bytes(public_key) not in trusted_keys.get(authority, set()):
            reason = UNTRUSTED_KEY
        elif not keys.verify(bytes(public_key), bytes(signature), message):
            reason = BAD_SIGNATURE
        elif authority in counted:
            reason = DUPLICATE_AUTHORITY
        else:
            reason = VALID
            counted.append(authority)
        checks.append(SignatureCheck(authority=authority, key_id=key_id, counted=reason == VALID, reason=reason))
    return Evaluation(k=int(policy.get("k") or 0), checks=checks, valid_authorities=counted)


@dataclass
class VerificationReport:
    """The verdict of `verify_export`: `effective` only when the document is intact and k signatures count."""

    document_intact: bool
    effective: bool
    digest: str = ""
    k: int = 0
    valid_signatures: int = 0
    problems: list[str] = field(default_factory=list)
    signatures: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_export(export: Any, *, trusted_keys: dict[str, set[bytes]] | None = None) -> VerificationReport:
    """Re-check an exported proposal from its file alone: document, digest, policy, signatures.

    Never raises on bad input: every problem is named in the report."""
    report = VerificationReport(document_intact=False, effective=False)
    if not isinstance(export, dict) or export.get("format") != EXPORT_FORMAT:
        report.problems.append(f"The file is not a {EXPORT_FORMAT} document.")
        return report
    document = export.get("document")
    if not isinstance(document, dict) or document.get("format") != DOCUMENT_FORMAT:
        report.problems.append(f"The proposal document is missing or not a {DOCUMENT_FORMAT} document.")
        return report
    try:
        canonical = canonical_bytes(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        report.problems.append(f"The document cannot be canonicalised: {exc}.")
        return report
    report.digest = digest_of(canonical)
    intact = True
    if "canonical" in export and export["canonical"] != canonical.decode():
        report.problems.append("The canonical form in the file is not the canonical form of its document.")
        intact = False
    if export.get("digest") != report.digest:
        report.problems.append("The digest in the file is not the SHA-256 of the document's canonical form.")
        intact = False
    policy = document.get("policy")
    authorities = policy.get("authorities") if isinstance(policy, dict) else None
    k = policy.get("k") if isinstance(policy, dict) else None
    if not isinstance(authorities, list) or not all(isinstance(a, dict) and a.get("id") for a in authorities):
        report.problems.append("The policy names no valid list of authorities.")
        intact = False
        authorities = []
    elif len({a["id"] for a in authorities}) != len(authorities):
        report.problems.append("The policy names an authority twice.")
        intact = False
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= len(authorities):
        report.problems.append("The policy's k is not between 1 and the number of authorities.")
        intact = False
        k = 0
    report.k = k or 0
    signatures = []
    raw_signatures = export.get("signatures")
    if not isinstance(raw_signatures, list):
        report.problems.append("The file has no list of signatures.")
        raw_signatures = []
    elif len(raw_signatures) > MAX_SIGNATURES:
        # No policy has that many authorities; refusing bounds the work a posted file causes.
        report.problems.append(f"The file has more than {MAX_SIGNATURES} signatures.")
        raw_signatures = []
    for raw in raw_signatures:
        raw = raw if isinstance(raw, dict) else {}
        entry: dict[str, Any] = {"authority": raw.get("authority", ""), "key_id": raw.get("key_id", "")}
        try:
            entry["public_key"] = _unb64(raw.get("public_key"))
            entry["signature"] = _unb64(raw.get("signature"))
        except (ValueError, binascii.Error):
            pass  # left out: evaluate_signatures reports it as malformed
        signatures.append(entry)
    evaluation = evaluate_signatures(
        document=document, canonical=canonical, signatures=signatures, trusted_keys=trusted_keys
    )
    report.signatures = [asdict(check) for check in evaluation.checks]
    report.valid_signatures = evaluation.count
    report.document_intact = intact
    report.effective = bool(intact and k and evaluation.met)
    if intact and not evaluation.met:
        report.problems.append(f"Only {evaluation.count} of the {k} required signatures are valid.")
    return report

"""Verify a credential or a presentation; the answer says, check by check, what held and what did not.

Result: {"verified": bool, "kind": ..., "errors": [{"code", "message"}], "checks": [{"check", "ok", "message"}]}.
Error codes are stable: signature_invalid, issuer_key_mismatch, issuer_key_unresolvable,
key_revoked, proof_missing, proof_purpose_invalid, unsupported_cryptosuite, malformed,
context_invalid, issuer_missing, not_yet_valid, expired, validity_invalid, revoked,
suspended, status_unavailable, challenge_mismatch, domain_mismatch, holder_mismatch,
credential_invalid.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.identity import did as dids
from apps.identity.credentials import dataintegrity
from apps.identity.credentials.status import StatusUnavailable, status_bit
from apps.identity.credentials.vc import VC_CONTEXT, issuer_id, parse_datetime
from portal.errors import ValidationFailed


class _Report:
    def __init__(self, kind: str):
        self.kind = kind
        self.errors: list[dict] = []
        self.warnings: list[dict] = []
        self.checks: list[dict] = []

    def ok(self, check: str, message: str) -> None:
        self.checks.append({"check": check, "ok": True, "message": message})

    def fail(self, check: str, code: str, message: str) -> None:
        self.checks.append({"check": check, "ok": False, "message": message})
        self.errors.append({"code": code, "message": message})

    def warn(self, check: str, code: str, message: str) -> None:
        """Holds, but a person must know: shown beside the result, never turned into a pass silently."""
        self.checks.append({"check": check, "ok": True, "message": message})
        self.warnings.append({"code": code, "message": message})

    def result(self, **extra) -> dict:
        return {
            "verified": not self.errors,
            "kind": self.kind,
            "errors": self.errors,
            "warnings": self.warnings,
            "checks": self.checks,
            **extra,
        }


def document_kind(document) -> str:
    """ "credential" or "presentation".

    Raises: ValidationFailed when the JSON is neither (the API answers 400)."""
    if not isinstance(document, dict):
        raise ValidationFailed(_("Send a verifiable credential or presentation: a JSON object."))
    types = document.get("type")
    types = [types] if isinstance(types, str) else types
    if not isinstance(types, list):
        raise ValidationFailed(_("The document has no type: it is not a verifiable credential or presentation."))
    if "VerifiablePresentation" in types:
        return "presentation"
    if "VerifiableCredential" in types:
        return "credential"
    raise ValidationFailed(_("The document's type is neither VerifiableCredential nor VerifiablePresentation."))


def _single_proof(document: dict, report: _Report) -> dict | None:
    proof = document.get("proof")
    if isinstance(proof, list) and len(proof) == 1:
        proof = proof[0]
    if not isinstance(proof, dict):
        report.fail(
            "proof",
            "proof_missing",
            _("The document carries no proof (or several, which this verifier does not accept)."),
        )
        return None
    return proof


def _check_proof(document: dict, proof: dict, *, report: _Report, purpose: str, controller: str) -> bool:
    """Resolve the key, bind it to `controller` for `purpose`, check the signature. True when all held."""
    if proof.get("proofPurpose") != purpose:
        report.fail("proof", "proof_purpose_invalid", _("The proof's purpose must be “%(p)s”.") % {"p": purpose})
        return False
    try:
        method, did_document = dids.resolve_verification_method(proof.get("verificationMethod"))
        public_key = dids.method_public_key(method)
    except dids.DidResolutionError as exc:
        report.fail(
            "key", "issuer_key_unresolvable", _("The signing key could not be found: %(e)s") % {"e": exc.message}
        )
        return False
    relationship = did_document.get(purpose) or []
    related = {m if isinstance(m, str) else m.get("id") for m in relationship if isinstance(m, (str, dict))}
    if not controller.startswith("did:"):
        # An issuer named by a web address (as in the W3C test vectors) publishes no keys we
        # could bind: the key must still be its own DID's, and the verdict says who signed.
        if method.get("controller", did_document.get("id")) != did_document.get("id") or method["id"] not in related:
            report.fail("key", "issuer_key_mismatch", _("The signing key is not valid for this purpose."))
            return False
        report.warn(
            "key",
            "issuer_not_bound",
            _(
                "The issuer %(issuer)s is a web address, not a DID, so its keys cannot be looked up: the credential "
                "was signed by %(key)s. Trust it only if you know that key belongs to this issuer."
            )
            % {"issuer": controller, "key": did_document.get("id")},
        )
    elif (
        did_document.get("id") != controller
        or method.get("controller", controller) != controller
        or method["id"] not in related
    ):
        report.fail(
            "key",
            "issuer_key_mismatch",
            _("The key that signed this document does not belong to %(who)s.") % {"who": controller or _("its issuer")},
        )
        return False
    else:
        report.ok("key", _("The signing key belongs to %(who)s.") % {"who": controller})
    if method.get("revoked"):
        revoked, created = parse_datetime(method["revoked"]), parse_datetime(proof.get("created"))
        if revoked is None or created is None or created > revoked:
            report.fail("key", "key_revoked", _("The signing key was retired before this signature was made."))
            return False
    try:
        dataintegrity.proof_verify(document, proof, public_key)
    except dataintegrity.ProofError as exc:
        report.fail("signature", exc.code, str(exc))
        return False
    report.ok("signature", _("The signature matches: the document is exactly as it was signed."))
    return True


def _check_validity(document: dict, report: _Report, now: datetime) -> None:
    valid_from, valid_until = document.get("validFrom"), document.get("validUntil")
    start = parse_datetime(valid_from) if valid_from is not None else None
    end = parse_datetime(valid_until) if valid_until is not None else None
    if (valid_from is not None and start is None) or (valid_until is not None and end is None):
        report.fail(
            "validity", "validity_invalid", _("validFrom or validUntil is not a date and time with a time zone.")
        )
    elif start and now < start:
        report.fail(
            "validity", "not_yet_valid", _("The credential is not valid yet: it starts on %(d)s.") % {"d": valid_from}
        )
    elif end and now > end:
        report.fail("validity", "expired", _("The credential expired on %(d)s.") % {"d": valid_until})
    else:
        report.ok("validity", _("The credential is within its validity period."))


def _check_status(document: dict, report: _Report, issuer: str) -> None:
    entries = document.get("credentialStatus")
    entries = [entries] if isinstance(entries, dict) else entries or []
    messages = {
        "revocation": _("The issuer has revoked this credential."),
        "suspension": _("The issuer has suspended this credential."),
    }
    codes = {"revocation": "revoked", "suspension": "suspended"}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
            continue
        purpose = entry.get("statusPurpose")
        if purpose not in codes:
            continue
        try:
            index = int(entry.get("statusListIndex"))
            is_set = status_bit(url=entry.get("statusListCredential"), index=index, purpose=purpose, issuer=issuer)
        except (StatusUnavailable, TypeError, ValueError) as exc:
            report.fail(
                "status",
                "status_unavailable",
                _("The %(p)s status could not be checked: %(e)s") % {"p": purpose, "e": exc},
            )
            continue
        if is_set:
            report.fail("status", codes[purpose], messages[purpose])
        else:
            report.ok("status", _("Not %(state)s.") % {"state": codes[purpose]})


def verify_credential(document: dict, *, check_status: bool = True, now: datetime | None = None) -> dict:
    """Signature, issuer key binding, validity period and status of one credential."""
    now = now or timezone.now()
    report = _Report("credential")
    context = document.get("@context")
    if not isinstance(context, list) or not context or context[0] != VC_CONTEXT:
        report.fail(
            "format", "context_invalid", _("The first @context must be %(c)s (VC Data Model 2.0).") % {"c": VC_CONTEXT}
        )
    issuer = issuer_id(document)
    summary = {
        "id": document.get("id"),
        "issuer": issuer if isinstance(issuer, str) else None,
        "type": document.get("type"),
    }
    if not isinstance(issuer, str) or not issuer:
        report.fail("issuer", "issuer_missing", _("The credential names no issuer."))
        return report.result(credential=summary)
    proof = _single_proof(document, report)
    signed = proof is not None and _check_proof(
        document, proof, report=report, purpose="assertionMethod", controller=issuer
    )
    _check_validity(document, report, now)
    # Status lists are only fetched for a credential whose signature held: a forgery makes no requests.
    if check_status and signed:
        _check_status(document, report, issuer)
    return report.result(credential=summary)


def verify_presentation(document: dict, *, challenge: str, domain: str = "", now: datetime | None = None) -> dict:
    """The holder's proof (authentication, with the expected challenge and domain) and every credential inside."""
    report = _Report("presentation")
    holder = document.get("holder")
    holder = holder.get("id") if isinstance(holder, dict) else holder
    proof = _single_proof(document, report)
    if proof is not None:
        if not challenge or proof.get("challenge") != challenge:
            report.fail(
                "challenge", "challenge_mismatch", _("The presentation was not made for this challenge (a replay?).")
            )
        else:
            report.ok("challenge", _("The presentation answers this challenge."))
        if domain and proof.get("domain") != domain:
            report.fail("domain", "domain_mismatch", _("The presentation was made for another domain."))
        elif domain:
            report.ok("domain", _("The presentation was made for this domain."))
        if not isinstance(holder, str) or not holder:
            report.fail("holder", "holder_mismatch", _("The presentation names no holder."))
        else:
            _check_proof(document, proof, report=report, purpose="authentication", controller=holder)
    credentials = document.get("verifiableCredential") or []
    credentials = [credentials] if isinstance(credentials, dict) else credentials
    results = []
    for position, credential in enumerate(credentials if isinstance(credentials, list) else []):
        result = (
            verify_credential(credential, now=now)
            if isinstance(credential, dict)
            else {"verified": False, "errors": [{"code": "malformed", "message": _("Not a credential.")}], "checks": []}
        )
        results.append(result)
        if not result["verified"]:
            codes = ", ".join(e["code"] for e in result["errors"])
            report.fail(
                "credential",
                "credential_invalid",
                _("Credential %(n)s does not verify (%(codes)s).") % {"n": position + 1, "codes": codes},
            )
    return report.result(holder=holder if isinstance(holder, str) else None, credentials=results)


def verify_document(document, *, challenge: str = "", domain: str = "") -> dict:
    """Raises: ValidationFailed when the JSON is not a credential or a presentation."""
    if document_kind(document) == "presentation":
        return verify_presentation(document, challenge=challenge, domain=domain)
    return verify_credential(document)

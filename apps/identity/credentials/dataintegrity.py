"""The `eddsa-jcs-2022` cryptosuite of W3C Data Integrity EdDSA Cryptosuites v1.0.

Follows the specification's algorithms exactly (sections 3.3.1 to 3.3.6): the proof
configuration (the proof without `proofValue`, with the document's `@context`) and the
document without its proof are each canonicalised with JCS (RFC 8785) and hashed with
SHA-256; Ed25519 signs proofConfigHash || documentHash; `proofValue` is the signature in
multibase base58btc ('z'). The W3C test vectors in fixtures/vc-test-vectors/ pin it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import base58
import rfc8785

from apps.identity import keys

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"


class ProofError(ValueError):
    """A proof that is malformed for this cryptosuite; `code` says which check failed."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def canonicalize(value) -> bytes:
    """RFC 8785 JSON Canonicalization Scheme.

    Raises: ProofError when the value is not representable (NaN, huge integers, non-JSON types)."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ProofError("malformed", f"The document cannot be canonicalised: {exc}") from exc


def hash_data(unsecured_document: dict, proof_config: dict) -> bytes:
    """proofConfigHash || transformedDocumentHash (spec 3.3.4, "Hashing (eddsa-jcs-2022)")."""
    return (
        hashlib.sha256(canonicalize(proof_config)).digest() + hashlib.sha256(canonicalize(unsecured_document)).digest()
    )


def proof_config(
    document: dict,
    *,
    verification_method: str,
    proof_purpose: str,
    created: str,
    challenge: str = "",
    domain: str = "",
) -> dict:
    """The proof options of spec 3.3.5, `@context` copied from the document when it has one."""
    config = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    if challenge:
        config["challenge"] = challenge
    if domain:
        config["domain"] = domain
    if "@context" in document:
        config["@context"] = document["@context"]
    return config


def proof_create(document: dict, *, sign: Callable[[bytes], bytes], **options) -> dict:
    """Sign an unsecured document; returns the proof (spec 3.3.1 "Create Proof")."""
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    config = proof_config(unsecured, **options)
    signature = sign(hash_data(unsecured, config))
    return {**config, "proofValue": "z" + base58.b58encode(signature).decode()}


def secure(document: dict, *, sign: Callable[[bytes], bytes], **options) -> dict:
    """The document with its proof added."""
    return {**document, "proof": proof_create(document, sign=sign, **options)}


def proof_verify(secured_document: dict, proof: dict, public_key: bytes) -> None:
    """Check one proof of a secured document (spec 3.3.2 "Verify Proof").

    Raises: ProofError with code `malformed`, `unsupported_cryptosuite` or `signature_invalid`."""
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise ProofError(
            "unsupported_cryptosuite",
            f"Only {PROOF_TYPE} proofs with the {CRYPTOSUITE} cryptosuite are supported.",
        )
    proof_value = proof.get("proofValue")
    if not isinstance(proof_value, str) or not proof_value.startswith("z"):
        raise ProofError("malformed", "proofValue must be a base58btc multibase string (starting with 'z').")
    try:
        signature = base58.b58decode(proof_value[1:])
    except ValueError as exc:
        raise ProofError("malformed", "proofValue is not valid base58.") from exc
    if len(signature) != 64:
        raise ProofError("malformed", "proofValue is not an Ed25519 signature (64 bytes).")
    unsecured = {k: v for k, v in secured_document.items() if k != "proof"}
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in config:
        document_context = unsecured.get("@context")
        proof_context = config["@context"]
        if not isinstance(proof_context, list):
            proof_context = [proof_context]
        if not isinstance(document_context, list):
            document_context = [document_context]
        if document_context[: len(proof_context)] != proof_context:
            raise ProofError("signature_invalid", "The proof's @context does not match the document's.")
        unsecured["@context"] = config["@context"]
    if not keys.verify(public_key, signature, hash_data(unsecured, config)):
        raise ProofError(
            "signature_invalid",
            "The signature does not match: the document was changed after signing, or signed with another key.",
        )

"""Our eddsa-jcs-2022 against the W3C specification's own test vectors (fixtures/vc-test-vectors/)."""

import hashlib
import json
from pathlib import Path

import base58
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from apps.identity import did as dids
from apps.identity.credentials import dataintegrity
from portal.testing import api_as

VECTORS = Path(__file__).resolve().parents[3] / "fixtures" / "vc-test-vectors"


def _json(name):
    return json.loads((VECTORS / name).read_text())


def _text(name):
    return (VECTORS / name).read_text().strip()


def _spec_private_key() -> bytes:
    decoded = base58.b58decode(_json("keyPair.json")["privateKeyMultibase"][1:])
    assert decoded[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return decoded[2:]


def test_the_spec_key_pair_is_the_spec_did_key():
    public = Ed25519PrivateKey.from_private_bytes(_spec_private_key()).public_key().public_bytes_raw()
    assert dids.multikey_encode(public) == _json("keyPair.json")["publicKeyMultibase"]


def test_canonical_forms_and_hashes_match_the_spec():
    unsecured, config = _json("unsecured.json"), _json("proofConfigJCS.json")
    assert rfc8785.dumps(unsecured).decode() == _text("canonDocJCS.txt")
    assert rfc8785.dumps(config).decode() == _text("proofCanonJCS.txt")
    assert dataintegrity.hash_data(unsecured, config).hex() == _text("combinedHashJCS.txt")
    assert hashlib.sha256(rfc8785.dumps(unsecured)).hexdigest() == _text("combinedHashJCS.txt")[64:]


def test_our_signer_with_the_spec_key_reproduces_the_spec_proof():
    private = Ed25519PrivateKey.from_private_bytes(_spec_private_key())
    config = _json("proofConfigJCS.json")
    proof = dataintegrity.proof_create(
        _json("unsecured.json"),
        sign=private.sign,
        verification_method=config["verificationMethod"],
        proof_purpose=config["proofPurpose"],
        created=config["created"],
    )
    assert proof == _json("signedJCS.json")["proof"]
    assert base58.b58decode(proof["proofValue"][1:]).hex() == _text("sigHexJCS.txt")
    assert proof["proofValue"] == _text("sigBTC58JCS.txt")


@pytest.mark.django_db
def test_the_spec_credential_verifies_through_the_api(api_client):
    """The spec's signed credential verifies (did:key resolved offline), with a warning.

    The spec's example names `https://vc.example/issuers/5678` as issuer and signs with a
    did:key: a web address publishes no keys to bind, so the verdict says who signed."""
    response = api_client.post("/api/v1/credentials/verify", _json("signedJCS.json"), format="json")
    assert response.status_code == 200
    result = response.json()
    assert result["verified"] is True, result
    assert result["errors"] == []
    assert [w["code"] for w in result["warnings"]] == ["issuer_not_bound"]
    assert "did:key:z6Mk" in result["warnings"][0]["message"]
    assert {c["check"]: c["ok"] for c in result["checks"]} == {"key": True, "signature": True, "validity": True}


@pytest.mark.django_db
def test_a_did_issuer_must_own_the_signing_key(api_client):
    """Naming one of our institutions as issuer while signing with another key is refused."""
    forged = {**_json("signedJCS.json"), "issuer": "did:web:testserver:institutions:aurelia"}
    result = api_client.post("/api/v1/credentials/verify", forged, format="json").json()
    assert result["verified"] is False
    assert "issuer_key_mismatch" in [e["code"] for e in result["errors"]] or "issuer_key_unresolvable" in [
        e["code"] for e in result["errors"]
    ]


@pytest.mark.django_db
def test_a_byte_changed_in_the_spec_credential_fails(api_client):
    tampered = _json("signedJCS.json")
    tampered["credentialSubject"]["alumniOf"] = "The School of Examples!"
    result = api_client.post("/api/v1/credentials/verify", tampered, format="json").json()
    assert result["verified"] is False
    assert [e["code"] for e in result["errors"]] == ["signature_invalid"]


def test_the_signature_of_the_spec_credential_checks_against_its_public_key():
    # The signature itself: checked directly against the spec's public key.
    signed = _json("signedJCS.json")
    public = dids.multikey_decode(_json("keyPair.json")["publicKeyMultibase"])
    dataintegrity.proof_verify(signed, signed["proof"], public)


@pytest.mark.django_db
def test_the_spec_credential_issued_by_its_did_key_verifies_fully_through_the_api(alice):
    """The spec's credential and key, with the did:key as issuer: verified, nothing else needed."""
    private = Ed25519PrivateKey.from_private_bytes(_spec_private_key())
    did = "did:key:" + _json("keyPair.json")["publicKeyMultibase"]
    document = {**_json("unsecured.json"), "issuer": did}
    config = _json("proofConfigJCS.json")
    signed = dataintegrity.secure(
        document,
        sign=private.sign,
        verification_method=config["verificationMethod"],
        proof_purpose="assertionMethod",
        created=config["created"],
    )
    response = api_as(alice).post("/api/v1/credentials/verify", signed, format="json")
    assert response.status_code == 200
    assert response.json()["verified"] is True, response.json()
    signed["credentialSubject"]["alumniOf"] = "Another School"
    result = api_as(alice).post("/api/v1/credentials/verify", {"verifiableCredential": signed}, format="json").json()
    assert [e["code"] for e in result["errors"]] == ["signature_invalid"]


@pytest.mark.django_db
def test_the_public_page_says_who_signed_a_web_address_issuers_credential(client):
    import json

    response = client.post("/credentials/verify/", {"document": json.dumps(_json("signedJCS.json"))})
    assert response.status_code == 200
    assert b"could not be confirmed" in response.content
    assert b"issuer_not_bound" in response.content
    assert b"genuine and valid: it was issued as shown" not in response.content

"""The envelope format on its own: canonical digest, detached JWS, strict parsing."""

import hashlib
import json
import uuid
from datetime import UTC, datetime

import pytest
import rfc8785
from jwcrypto import jwk, jws

from apps.federation import envelopes
from apps.federation.envelopes import EnvelopeRejected
from apps.federation.resolver import resolve_verification_key
from apps.federation.selectors import envelope_verify
from apps.federation.services import peer_inbox_url
from apps.federation.tests.helpers import raw, signed_document
from portal.errors import ValidationFailed


def test_body_digest_is_sha256_of_the_rfc8785_canonical_body():
    body = {"b": [1, 2.5, "é"], "a": {"z": None, "y": True}}
    assert envelopes.body_digest(body) == hashlib.sha256(rfc8785.dumps(body)).hexdigest()
    assert envelopes.body_digest({"a": {"y": True, "z": None}, "b": [1, 2.5, "é"]}) == envelopes.body_digest(body)


@pytest.mark.django_db
def test_a_signed_envelope_parses_and_verifies(aurelia, borealis):
    document = signed_document(sender=aurelia, recipient_did=borealis.did)
    parsed = envelopes.parse(raw(document))
    assert parsed.sender == aurelia.did and parsed.recipient == borealis.did
    assert parsed.protected == {"alg": "EdDSA", "kid": parsed.kid, "typ": envelopes.JWS_TYP}
    assert envelope_verify(parsed).valid


@pytest.mark.django_db
def test_the_kid_is_the_verification_method_the_sender_did_document_publishes(client, aurelia, borealis):
    """A remote node resolving the sender's DID finds the kid among the document's keys, as is."""
    document = signed_document(sender=aurelia, recipient_did=borealis.did)
    parsed = envelopes.parse(raw(document))
    published = client.get(f"/institutions/{aurelia.slug}/did.json").json()
    active = [m for m in published["verificationMethod"] if "revoked" not in m]
    assert [m["id"] for m in active] == [parsed.kid]
    assert parsed.kid == f"{aurelia.did}#{active[0]['publicKeyMultibase']}"
    assert parsed.kid in published["assertionMethod"]


@pytest.mark.django_db
def test_the_signature_is_a_standard_detached_jws(aurelia, borealis):
    """Any JOSE library verifies it: jwcrypto, given the payload the receiver rebuilds."""
    document = signed_document(sender=aurelia, recipient_did=borealis.did)
    parsed = envelopes.parse(raw(document))
    public = resolve_verification_key(aurelia.did, parsed.key_id).public_key
    key = jwk.JWK(kty="OKP", crv="Ed25519", x=envelopes.b64url(public))
    payload = rfc8785.dumps({name: document[name] for name in envelopes.SIGNED_MEMBERS})
    token = jws.JWS()
    token.deserialize(document["signature"])
    token.verify(key, detached_payload=payload)  # raises when invalid
    token = jws.JWS()
    token.deserialize(document["signature"])
    with pytest.raises(jws.InvalidJWSSignature):
        token.verify(key, detached_payload=payload.replace(b"federation.ping", b"federation.pong"))


def _valid_document():
    return {
        "v": 1,
        "id": str(uuid.uuid4()),
        "type": "federation.ping",
        "sender": "did:web:a.example:institutions:x",
        "recipient": "did:web:b.example:institutions:y",
        "time": envelopes.format_time(datetime.now(UTC)),
        "body_digest": envelopes.body_digest({}),
        "body": {},
        "signature": envelopes.protected_header(kid="did:web:a.example:institutions:x#k1") + ".." + "A" * 86,
    }


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda d: d.pop("signature"), "malformed_envelope"),
        (lambda d: d.update(extra=1), "malformed_envelope"),
        (lambda d: d.update(v=2), "malformed_envelope"),
        (lambda d: d.update(id="not-a-uuid"), "malformed_envelope"),
        (lambda d: d.update(id=d["id"].upper()), "malformed_envelope"),
        (lambda d: d.update(type="Ping"), "malformed_envelope"),
        (lambda d: d.update(sender="mailto:someone"), "malformed_envelope"),
        (lambda d: d.update(time="2026-01-01 12:00:00"), "malformed_envelope"),
        (lambda d: d.update(body_digest="xyz"), "malformed_envelope"),
        (lambda d: d.update(body=[1]), "malformed_envelope"),
        (lambda d: d.update(signature="a.b.c"), "malformed_envelope"),
        (
            lambda d: d.update(signature=envelopes.protected_header(kid="did:web:other#k") + ".." + "A" * 86),
            "malformed_envelope",
        ),
    ],
)
def test_parse_refuses_anything_but_the_exact_shape(change, code):
    envelopes.parse(json.dumps(_valid_document()).encode())  # the control parses
    document = _valid_document()
    change(document)
    with pytest.raises(EnvelopeRejected) as exc:
        envelopes.parse(json.dumps(document).encode())
    assert exc.value.code == code


def test_parse_refuses_non_json_and_oversized_input():
    for junk in (b"", b"\xff\xfe", b"[]", b"{", b'{"v": NaN}'):
        with pytest.raises(EnvelopeRejected) as exc:
            envelopes.parse(junk)
        assert exc.value.code == "malformed_envelope"
    with pytest.raises(EnvelopeRejected) as exc:
        envelopes.parse(b" " * (envelopes.MAX_ENVELOPE_BYTES + 1))
    assert exc.value.code == "envelope_too_large"
    assert exc.value.status == 413


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:peer.example:institutions:x", "https://peer.example/api/v1/federation/inbox"),
        ("did:web:peer.example%3A8443:institutions:x", "https://peer.example:8443/api/v1/federation/inbox"),
        ("did:web:127.0.0.1%3A8001:institutions:x", "http://127.0.0.1:8001/api/v1/federation/inbox"),
        ("did:web:localhost%3A8001", "http://localhost:8001/api/v1/federation/inbox"),
    ],
)
def test_the_peer_inbox_comes_from_the_did_web_host(did, url):
    assert peer_inbox_url(did) == url


@pytest.mark.parametrize(
    "did",
    [
        "did:key:z6Mkabc",
        "did:web:",
        "did:web:169.254.169.254:institutions:x",
        "did:web:bad_host!:x",
        "did:web:h%3A99999",
    ],
)
def test_dids_that_cannot_be_reached_are_refused(did):
    with pytest.raises(ValidationFailed):
        peer_inbox_url(did)

import copy
import json
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.identity.credentials import dataintegrity
from apps.identity.credentials.present import presentation_create, user_key
from apps.identity.credentials.services import (
    credential_issue,
    credential_reinstate,
    credential_revoke,
    credential_suspend,
    user_did_ensure,
)
from apps.identity.credentials.status import STATUS_LIST_BITS, decode_bitstring
from apps.identity.credentials.verify import verify_credential, verify_document, verify_presentation
from apps.identity.did import multikey_encode
from apps.identity.models import Credential, CredentialStatus, KeyOwnerType, StatusList
from apps.identity.services import signing_key_create, signing_key_sign
from apps.tenancy.scope import institution_scope
from portal.errors import InvalidTransition, PermissionDenied, ValidationFailed

SUBJECT = {"id": "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2", "permit": "market stall", "plot": 17}


def _issue(institution, **kwargs):
    with institution_scope(institution):
        return credential_issue(
            institution=institution,
            subject=kwargs.pop("subject", SUBJECT),
            types=kwargs.pop("types", ["PermitCredential"]),
            **kwargs,
        )


def _codes(result):
    return [e["code"] for e in result["errors"]]


@pytest.fixture
def credential(aurelia, alice):
    return _issue(aurelia, actor=alice, valid_until=timezone.now() + timedelta(days=365))


@pytest.mark.django_db
def test_issue_then_verify_round_trip(credential, aurelia):
    document = credential.document
    assert document["issuer"]["id"] == aurelia.did
    assert document["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert [e["statusPurpose"] for e in document["credentialStatus"]] == ["revocation", "suspension"]
    result = verify_credential(document)
    assert result["verified"], result
    assert {c["check"] for c in result["checks"]} >= {"key", "signature", "validity", "status"}
    event = AuditEvent.objects.get(action="identity.credential.issue")
    assert event.target_id == str(credential.pk) and event.institution_id == aurelia.pk
    # the institution's key was created on first use, and audited
    assert AuditEvent.objects.filter(action="identity.key.create").count() == 1


@pytest.mark.django_db
def test_tampering_with_any_value_fails_with_a_clear_error(credential):
    def leaves(value, path=()):
        if isinstance(value, dict):
            for key, item in value.items():
                yield from leaves(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from leaves(item, (*path, index))
        else:
            yield path

    paths = [p for p in leaves(credential.document) if p[0] != "proof"]
    assert len(paths) > 15
    for path in paths:
        tampered = copy.deepcopy(credential.document)
        target = tampered
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = f"{target[path[-1]]}x"
        result = verify_credential(tampered)
        assert not result["verified"], path
        # the signature no longer matches; a changed issuer is caught one step earlier, at the key binding
        assert set(_codes(result)) & {"signature_invalid", "issuer_key_mismatch"}, (path, result)


@pytest.mark.django_db
def test_flipping_any_byte_never_verifies(credential):
    text = json.dumps(credential.document, separators=(",", ":"))
    for position in range(len(text)):
        flipped = text[:position] + ("a" if text[position] != "a" else "b") + text[position + 1 :]
        try:
            document = json.loads(flipped)
            result = verify_document(document)
        except (ValueError, ValidationFailed):
            continue  # not JSON, or not a credential any more: the API answers 400
        assert not result["verified"], (position, flipped[max(0, position - 20) : position + 20])
        assert result["errors"][0]["message"]


@pytest.mark.django_db
def test_signature_error_message_is_clear(credential):
    tampered = copy.deepcopy(credential.document)
    tampered["credentialSubject"]["plot"] = 18
    error = verify_credential(tampered)["errors"][0]
    assert error["code"] == "signature_invalid"
    assert "signature does not match" in error["message"]


@pytest.mark.django_db
def test_revoked_and_suspended_credentials_fail(credential, alice, aurelia):
    suspended = credential_suspend(credential=credential, actor=alice, reason="inspection pending")
    assert suspended.status == CredentialStatus.SUSPENDED
    assert _codes(verify_credential(credential.document)) == ["suspended"]
    credential_reinstate(credential=suspended, actor=alice)
    assert verify_credential(credential.document)["verified"]
    credential_revoke(credential=credential, actor=alice, reason="fraud")
    result = verify_credential(credential.document)
    assert _codes(result) == ["revoked"]
    assert result["errors"][0]["message"] == "The issuer has revoked this credential."
    actions = list(
        AuditEvent.objects.filter(action__startswith="identity.credential.").values_list("action", flat=True)
    )
    assert actions == [
        "identity.credential.issue",
        "identity.credential.suspend",
        "identity.credential.reinstate",
        "identity.credential.revoke",
    ]


@pytest.mark.django_db
def test_transitions_are_guarded_and_refusals_change_nothing(credential, alice, bob):
    credential_revoke(credential=credential, actor=alice)
    events = AuditEvent.objects.count()
    for change in (credential_suspend, credential_reinstate, credential_revoke):
        with pytest.raises(InvalidTransition):
            change(credential=credential, actor=alice)
    credential.refresh_from_db()
    assert credential.status == CredentialStatus.REVOKED
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_only_staff_change_status(credential, bob):
    bits = bytes(StatusList.all_institutions.get(pk=credential.suspension_list_id).bits)
    with pytest.raises(PermissionDenied):
        credential_suspend(credential=credential, actor=bob)
    credential.refresh_from_db()
    assert credential.status == CredentialStatus.ACTIVE
    assert bytes(StatusList.all_institutions.get(pk=credential.suspension_list_id).bits) == bits
    assert not AuditEvent.objects.filter(action="identity.credential.suspend").exists()


@pytest.mark.django_db
def test_expired_and_not_yet_valid(aurelia):
    now = timezone.now()
    expired = _issue(aurelia, valid_from=now - timedelta(days=10), valid_until=now - timedelta(days=1))
    assert _codes(verify_credential(expired.document)) == ["expired"]
    future = _issue(aurelia, valid_from=now + timedelta(days=1))
    assert _codes(verify_credential(future.document)) == ["not_yet_valid"]


@pytest.mark.django_db
def test_a_key_that_is_not_the_issuers_is_refused(credential, aurelia, borealis):
    # Borealis signs a credential that claims to come from Aurelia.
    other = _issue(borealis)
    forged = copy.deepcopy(credential.document)
    forged.pop("proof")
    key = signing_key_create(owner_type=KeyOwnerType.INSTITUTION, owner_id=str(borealis.pk), institution=borealis)
    forged = dataintegrity.secure(
        forged,
        sign=lambda m: signing_key_sign(key=key, message=m),
        verification_method=f"{other.issuer_did}#{multikey_encode(bytes(key.public_key))}",
        proof_purpose="assertionMethod",
        created="2026-01-01T00:00:00Z",
    )
    assert _codes(verify_credential(forged)) == ["issuer_key_mismatch"]


@pytest.mark.django_db
def test_retired_keys_still_verify_what_they_signed(credential, aurelia):
    signing_key_create(owner_type=KeyOwnerType.INSTITUTION, owner_id=str(aurelia.pk), institution=aurelia)
    assert verify_credential(credential.document)["verified"]


@pytest.mark.django_db
def test_bad_input_is_refused_and_changes_nothing(aurelia):
    events = AuditEvent.objects.count()
    for kwargs in (
        {"subject": {}},
        {"subject": {"x": float("nan")}},
        {"types": []},
        {"types": ["has space"]},
        {"valid_from": timezone.now(), "valid_until": timezone.now() - timedelta(days=1)},
    ):
        with pytest.raises(ValidationFailed):
            _issue(aurelia, **kwargs)
    assert AuditEvent.objects.count() == events
    assert not Credential.all_institutions.exists()


@pytest.mark.django_db
def test_status_list_is_published_gzip_base64url_16kb(client, credential, alice, aurelia):
    credential_revoke(credential=credential, actor=alice)
    entry = credential.document["credentialStatus"][0]
    path = entry["statusListCredential"].split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path)
    assert response.status_code == 200
    published = response.json()
    assert published["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert verify_credential(published, check_status=False)["verified"]
    bits = decode_bitstring(published["credentialSubject"]["encodedList"])
    assert len(bits) * 8 == STATUS_LIST_BITS
    index = int(entry["statusListIndex"])
    assert bits[index // 8] & (0x80 >> (index % 8))
    assert client.get("/credentials/status/aurelia/revocation-99").status_code == 404


@pytest.mark.django_db
def test_remote_status_lists_are_fetched_and_cached(credential, client):
    # The same credential seen as another node's: its status list comes over HTTPS.
    entry = credential.document["credentialStatus"][0]
    published = client.get("/" + entry["statusListCredential"].split("://", 1)[1].split("/", 1)[1]).json()
    from apps.identity.credentials import status

    response = mock.Mock(status_code=200, json=lambda: published)
    url = "https://remote.example/credentials/status/aurelia/revocation-1"
    public = [(2, 1, 6, "", ("93.184.215.14", 443))]
    with (
        mock.patch("apps.identity.did.socket.getaddrinfo", return_value=public),
        mock.patch("apps.identity.credentials.status.requests.get", return_value=response) as get,
    ):
        issuer = credential.document["issuer"]["id"]
        assert status.status_bit(url=url, index=0, purpose="revocation", issuer=issuer) is False
        assert status.status_bit(url=url, index=0, purpose="revocation", issuer=issuer) is False
    get.assert_called_once()
    with pytest.raises(status.StatusUnavailable):
        status.status_bit(url="http://plain.example/x", index=0, purpose="revocation", issuer=issuer)


@pytest.mark.django_db
def test_presentation_round_trip_and_wrong_challenge_or_domain(credential, bob):
    user_did_ensure(user=bob)
    presentation = presentation_create(
        holder_key=user_key(user=bob),
        credentials=[credential.document],
        challenge="n-0S6_WzA2Mj",
        domain="verifier.example",
    )
    ok = verify_presentation(presentation, challenge="n-0S6_WzA2Mj", domain="verifier.example")
    assert ok["verified"], ok
    bob.refresh_from_db()
    assert ok["holder"] == bob.did
    assert _codes(verify_presentation(presentation, challenge="other", domain="verifier.example")) == [
        "challenge_mismatch"
    ]
    assert _codes(verify_presentation(presentation, challenge="n-0S6_WzA2Mj", domain="evil.example")) == [
        "domain_mismatch"
    ]
    assert "challenge_mismatch" in _codes(verify_presentation(presentation, challenge=""))
    tampered = copy.deepcopy(presentation)
    tampered["proof"]["challenge"] = "other"
    assert "signature_invalid" in _codes(verify_presentation(tampered, challenge="other", domain="verifier.example"))
    stolen = copy.deepcopy(presentation)
    stolen["holder"] = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    assert "issuer_key_mismatch" in _codes(verify_presentation(stolen, challenge="n-0S6_WzA2Mj"))


@pytest.mark.django_db
def test_a_presentation_of_a_revoked_credential_fails(credential, alice, bob):
    user_did_ensure(user=bob)
    presentation = presentation_create(holder_key=user_key(user=bob), credentials=[credential.document], challenge="c")
    credential_revoke(credential=credential, actor=alice)
    result = verify_presentation(presentation, challenge="c")
    assert _codes(result) == ["credential_invalid"]
    assert _codes(result["credentials"][0]) == ["revoked"]

"""Receiving: the one path local and network deliveries take, and every way it says no."""

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.federation.models import InboxEnvelope, OutboxEnvelope, OutboxStatus
from apps.federation.services import envelope_receive, envelope_send
from apps.federation.tests.helpers import raw, signed_document
from apps.identity.did import DidResolutionError
from apps.identity.models import SigningKey
from apps.identity.services import signing_key_create
from apps.notifications.models import Notification
from apps.tenancy.scope import institution_scope
from portal.testing import InstitutionFactory

INBOX = "/api/v1/federation/inbox"


def post(client, body: bytes):
    return client.generic("POST", INBOX, body, content_type="application/json")


def rejections():
    return list(AuditEvent.objects.filter(action="federation.envelope.reject").order_by("id"))


def counts():
    return (
        InboxEnvelope.all_institutions.count(),
        Notification.all_institutions.count(),
        # The identity work's zero-trust middleware also logs every 401/403 of the API (identity.api_*).
        AuditEvent.objects.exclude(action="federation.envelope.reject")
        .exclude(action__startswith="identity.api_")
        .count(),
    )


@pytest.mark.django_db
def test_local_delivery_goes_through_the_receive_path(
    aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks, monkeypatch
):
    """Both institutions on this node: delivered in-process after commit, verified like any other."""
    import apps.federation.services as services

    calls = []
    original = services.envelope_receive
    monkeypatch.setattr(services, "envelope_receive", lambda **kw: calls.append(kw) or original(**kw))
    monkeypatch.setattr("requests.post", lambda *a, **kw: pytest.fail("a local delivery must not use the network"))

    with django_capture_on_commit_callbacks(execute=True), institution_scope(aurelia):
        outbox = envelope_send(
            sender=aurelia, recipient_did=borealis.did, type="federation.ping", body={"message": "Hi"}, actor=ada
        )

    assert len(calls) == 1 and isinstance(calls[0]["raw"], bytes)
    outbox = OutboxEnvelope.all_institutions.get(pk=outbox.pk)
    assert outbox.status == OutboxStatus.DELIVERED and outbox.attempts == 1 and outbox.route == "local"
    inbox = InboxEnvelope.all_institutions.get(envelope_id=outbox.envelope_id)
    assert inbox.institution == borealis and inbox.sender_did == aurelia.did and inbox.document == outbox.document
    note = Notification.all_institutions.get(institution=borealis)
    assert note.recipient == beatrice and note.body == "Hi" and aurelia.name in note.title
    assert str(inbox.envelope_id) in note.url
    actions = list(AuditEvent.objects.values_list("action", "institution_id"))
    assert ("federation.envelope.send", aurelia.pk) in actions
    assert ("federation.envelope.receive", borealis.pk) in actions
    assert ("federation.envelope.deliver", aurelia.pk) in actions
    assert ("notifications.send", borealis.pk) in actions


@pytest.mark.django_db
def test_a_network_delivery_is_accepted_once_and_a_replay_is_idempotent(client, aurelia, borealis, beatrice):
    body = raw(signed_document(sender=aurelia, recipient_did=borealis.did))
    first = post(client, body)
    assert first.status_code == 202, first.content
    assert first.json()["status"] == "accepted"
    after_first = counts()

    again = post(client, body)
    assert again.status_code == 200
    assert again.json() == {"status": "already_accepted", "envelope_id": first.json()["envelope_id"]}
    assert counts() == after_first  # not stored twice, no second notification
    assert InboxEnvelope.all_institutions.filter(envelope_id=first.json()["envelope_id"]).count() == 1
    assert not rejections()


@pytest.mark.django_db
def test_the_same_envelope_id_to_two_recipients_is_two_envelopes(aurelia, borealis):
    envelope_id = uuid.uuid4()
    for recipient in (borealis, aurelia):
        document = signed_document(sender=aurelia, recipient_did=recipient.did, envelope_id=envelope_id)
        assert envelope_receive(raw=raw(document)).created
    assert InboxEnvelope.all_institutions.filter(envelope_id=envelope_id).count() == 2


def _assert_rejected(client, body: bytes, *, status: int, code: str):
    before = counts()
    response = post(client, body)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert counts() == before, "a rejection changes nothing but the log"
    event = rejections()[-1]
    assert event.changes["reason"] == code
    return event


@pytest.mark.django_db
def test_a_tampered_body_is_rejected_and_audited(client, aurelia, borealis, beatrice):
    document = signed_document(sender=aurelia, recipient_did=borealis.did, body={"message": "pay 10"})
    document["body"] = {"message": "pay 10000"}
    event = _assert_rejected(client, raw(document), status=403, code="body_digest_mismatch")
    assert event.institution == borealis and event.changes["claimed_sender"] == aurelia.did
    assert event.target_id == document["id"]


@pytest.mark.django_db
def test_a_tampered_signed_member_or_signature_is_rejected(client, aurelia, borealis):
    document = signed_document(sender=aurelia, recipient_did=borealis.did)
    document["type"] = "federation.pong"
    _assert_rejected(client, raw(document), status=403, code="invalid_signature")

    document = signed_document(sender=aurelia, recipient_did=borealis.did)
    header, _, signature = document["signature"].partition("..")
    flipped = ("B" if signature[0] != "B" else "C") + signature[1:]
    document["signature"] = f"{header}..{flipped}"
    _assert_rejected(client, raw(document), status=403, code="invalid_signature")


@pytest.mark.django_db
def test_a_body_digest_recomputed_by_an_attacker_breaks_the_signature(client, aurelia, borealis):
    from apps.federation.envelopes import body_digest

    document = signed_document(sender=aurelia, recipient_did=borealis.did)
    document["body"] = {"message": "forged"}
    document["body_digest"] = body_digest(document["body"])
    _assert_rejected(client, raw(document), status=403, code="invalid_signature")


@pytest.mark.django_db
@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_time_outside_five_minutes_is_rejected(client, aurelia, borealis, minutes):
    document = signed_document(
        sender=aurelia, recipient_did=borealis.did, time=timezone.now() + timedelta(minutes=minutes)
    )
    _assert_rejected(client, raw(document), status=400, code="envelope_time_outside_window")


@pytest.mark.django_db
def test_a_time_within_the_window_is_accepted(client, aurelia, borealis):
    document = signed_document(sender=aurelia, recipient_did=borealis.did, time=timezone.now() - timedelta(minutes=4))
    assert post(client, raw(document)).status_code == 202


@pytest.mark.django_db
def test_an_unknown_sender_did_is_rejected(client, borealis):
    """Signed correctly, by a DID that does not resolve (an institution of a node we cannot look up)."""
    stranger = InstitutionFactory(slug="stranger", did="did:web:elsewhere.example:institutions:stranger")
    document = signed_document(sender=stranger, recipient_did=borealis.did)
    type(stranger).objects.filter(pk=stranger.pk).update(did="did:web:testserver:institutions:stranger")
    unreachable = DidResolutionError("elsewhere.example could not be reached.")
    with mock.patch("apps.identity.did._fetch_did_web", side_effect=unreachable) as fetch:
        _assert_rejected(client, raw(document), status=403, code="unknown_sender")
    fetch.assert_called_once_with(stranger.did)  # not on this node any more: looked up over HTTPS


@pytest.mark.django_db
def test_an_unknown_key_of_a_known_sender_is_rejected(client, aurelia, borealis):
    document = signed_document(sender=aurelia, recipient_did=borealis.did)
    SigningKey.objects.filter(owner_type="institution", owner_id=str(aurelia.pk)).delete()
    _assert_rejected(client, raw(document), status=403, code="unknown_sender")


@pytest.mark.django_db
def test_a_retired_key_still_verifies(client, aurelia, borealis):
    document = signed_document(sender=aurelia, recipient_did=borealis.did)
    from django.db import transaction

    with transaction.atomic():
        signing_key_create(owner_type="institution", owner_id=str(aurelia.pk), institution=aurelia)
    assert post(client, raw(document)).status_code == 202


@pytest.mark.django_db
def test_a_recipient_not_on_this_node_is_rejected(client, aurelia):
    document = signed_document(sender=aurelia, recipient_did="did:web:elsewhere.example:institutions:x")
    event = _assert_rejected(client, raw(document), status=404, code="unknown_recipient")
    assert event.institution is None


@pytest.mark.django_db
def test_an_unsupported_type_and_an_invalid_ping_body_are_rejected(client, aurelia, borealis):
    document = signed_document(sender=aurelia, recipient_did=borealis.did, type="permits.unknown")
    _assert_rejected(client, raw(document), status=400, code="unsupported_type")
    document = signed_document(sender=aurelia, recipient_did=borealis.did, body={"message": 42})
    _assert_rejected(client, raw(document), status=400, code="invalid_body")


@pytest.mark.django_db
def test_malformed_and_oversized_deliveries_are_rejected(client, aurelia, borealis):
    event = _assert_rejected(client, b'{"v": 1}', status=400, code="malformed_envelope")
    assert event.institution is None and event.target_id == ""
    _assert_rejected(client, b"x" * (300 * 1024), status=413, code="envelope_too_large")


@pytest.mark.django_db
def test_the_inbox_needs_no_account_and_ignores_sessions(client, aurelia, borealis, ada):
    """The signature is the authentication: a logged-in browser gets no CSRF-protected path here."""
    client.force_login(ada)
    document = signed_document(sender=aurelia, recipient_did=borealis.did)
    assert post(client, raw(document)).status_code == 202
    assert client.get(INBOX).status_code == 405


@pytest.mark.django_db
def test_the_inbox_is_throttled(client, aurelia, borealis, settings):
    settings.CIVITAS_FEDERATION_INBOX_RATE = "2/min"
    for _ in range(2):
        post(client, b"{}")
    response = post(client, b"{}")
    assert response.status_code == 429 and response.json()["code"] == "throttled"

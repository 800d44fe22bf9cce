"""Delivering from the outbox: over the network with retries, and recovering after a crash."""

from datetime import timedelta

import pytest
import requests
from celery.exceptions import Retry
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.federation import envelopes
from apps.federation.models import AttemptOutcome, InboxEnvelope, OutboxEnvelope, OutboxStatus
from apps.federation.selectors import envelope_verify
from apps.federation.services import (
    MAX_ATTEMPTS,
    DeliveryRetryable,
    envelope_receive,
    envelope_send,
    outbox_deliver,
    ping_send,
)
from apps.federation.tasks import outbox_deliver_task, outbox_resend_pending_task
from apps.federation.tests.helpers import raw, signed_document
from apps.tenancy.scope import institution_scope
from portal.errors import PermissionDenied, ValidationFailed

PEER_DID = "did:web:peer.example%3A8443:institutions:harbour"


class FakeResponse:
    def __init__(self, status_code: int, json_body: dict | None = None):
        self.status_code = status_code
        self._json = json_body
        self.text = "" if json_body is None else str(json_body)

    def json(self):
        if self._json is None:
            raise ValueError("no JSON")
        return self._json


class FakePeer:
    """Stands in for requests.post: answers from a script and checks what it is sent."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, url, data=None, headers=None, timeout=None, allow_redirects=True):
        self.calls.append({"url": url, "data": data, "headers": headers, "allow_redirects": allow_redirects})
        parsed = envelopes.parse(data)  # what travels is a valid envelope whose signature verifies
        assert envelope_verify(parsed).valid
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _send(institution, actor, recipient_did=PEER_DID, body=None):
    with institution_scope(institution):
        return envelope_send(
            sender=institution,
            recipient_did=recipient_did,
            type="federation.ping",
            body=body or {"message": "hello"},
            actor=actor,
        )


def _outbox(outbox):
    return OutboxEnvelope.all_institutions.get(pk=outbox.pk)


def _attempts(outbox):
    return list(
        outbox.delivery_attempts(manager="all_institutions").order_by("number").values_list("outcome", flat=True)
    )


def _actions(action):
    return AuditEvent.objects.filter(action=action).count()


def test_the_delivery_task_retries_with_exponential_backoff_and_acks_late():
    assert outbox_deliver_task.autoretry_for == (DeliveryRetryable,)
    assert outbox_deliver_task.max_retries == MAX_ATTEMPTS - 1
    assert outbox_deliver_task.retry_backoff == 30 and outbox_deliver_task.retry_backoff_max == 3600
    assert outbox_deliver_task.acks_late is True


@pytest.mark.django_db
def test_remote_delivery_retries_on_failure_and_succeeds_later(aurelia, ada, monkeypatch):
    peer = FakePeer(FakeResponse(503), requests.ConnectionError("peer down"), FakeResponse(202, {"status": "accepted"}))
    monkeypatch.setattr(requests, "post", peer)
    outbox = _send(aurelia, ada)
    envelope_id = str(outbox.envelope_id)
    # Eager Celery (the test setting) propagates the retry instead of sleeping; a worker waits 30 s, 60 s, ...
    for _ in range(2):
        with pytest.raises(Retry):
            outbox_deliver_task.delay(envelope_id=envelope_id)
        assert _outbox(outbox).status == OutboxStatus.PENDING
    assert outbox_deliver_task.delay(envelope_id=envelope_id).get() == OutboxStatus.DELIVERED

    outbox = _outbox(outbox)
    assert outbox.route == "remote"
    assert outbox.status == OutboxStatus.DELIVERED and outbox.attempts == 3 and outbox.last_error == ""
    assert _attempts(outbox) == [AttemptOutcome.ERROR, AttemptOutcome.ERROR, AttemptOutcome.DELIVERED]
    assert [c["url"] for c in peer.calls] == ["https://peer.example:8443/api/v1/federation/inbox"] * 3
    assert all(c["allow_redirects"] is False for c in peer.calls)
    assert peer.calls[0]["headers"]["Content-Type"] == "application/json"
    assert _actions("federation.envelope.deliver") == 1 and _actions("federation.envelope.fail") == 0


@pytest.mark.django_db
def test_remote_delivery_is_handed_to_the_task_after_commit(
    aurelia, ada, monkeypatch, django_capture_on_commit_callbacks
):
    peer = FakePeer(FakeResponse(202, {"status": "accepted"}))
    monkeypatch.setattr(requests, "post", peer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        outbox = _send(aurelia, ada)
    assert not peer.calls and _outbox(outbox).status == OutboxStatus.PENDING  # nothing leaves before commit
    for callback in callbacks:
        callback()
    assert len(peer.calls) == 1 and _outbox(outbox).status == OutboxStatus.DELIVERED


@pytest.mark.django_db
def test_a_rejection_by_the_peer_is_final(aurelia, ada, monkeypatch, django_capture_on_commit_callbacks):
    peer = FakePeer(FakeResponse(403, {"code": "invalid_signature", "detail": "no"}))
    monkeypatch.setattr(requests, "post", peer)
    with django_capture_on_commit_callbacks(execute=True):
        outbox = _send(aurelia, ada)
    outbox = _outbox(outbox)
    assert outbox.status == OutboxStatus.FAILED and outbox.attempts == 1 and len(peer.calls) == 1
    assert outbox.last_error.startswith("invalid_signature")
    assert _actions("federation.envelope.fail") == 1


@pytest.mark.django_db
def test_delivery_gives_up_after_the_maximum_attempts(aurelia, ada, monkeypatch):
    peer = FakePeer(FakeResponse(500))
    monkeypatch.setattr(requests, "post", peer)
    outbox = _send(aurelia, ada)
    retries = 0
    while outbox_deliver(envelope_id=str(outbox.envelope_id))[1]:
        retries += 1
    outbox = _outbox(outbox)
    assert retries == MAX_ATTEMPTS - 1
    assert outbox.status == OutboxStatus.FAILED and outbox.attempts == MAX_ATTEMPTS == len(peer.calls)
    assert outbox.last_error == "HTTP 500"
    assert _actions("federation.envelope.fail") == 1


@pytest.mark.django_db
def test_a_failed_attempt_schedules_the_next_with_backoff(aurelia, ada, monkeypatch):
    monkeypatch.setattr(requests, "post", FakePeer(FakeResponse(503)))
    outbox = _send(aurelia, ada)
    before = timezone.now()
    outbox, retry = outbox_deliver(envelope_id=str(outbox.envelope_id))
    assert retry and outbox.status == OutboxStatus.PENDING and outbox.attempts == 1
    assert outbox.next_attempt_at >= before + timedelta(seconds=30)
    outbox, retry = outbox_deliver(envelope_id=str(outbox.envelope_id))
    assert outbox.next_attempt_at >= before + timedelta(seconds=60)


@pytest.mark.django_db
@pytest.mark.parametrize("remote", [False, True])
def test_a_crash_between_commit_and_send_is_recovered_by_beat(
    aurelia, borealis, ada, beatrice, monkeypatch, django_capture_on_commit_callbacks, remote
):
    peer = FakePeer(FakeResponse(202, {"status": "accepted"}))
    monkeypatch.setattr(requests, "post", peer)
    # The on-commit hand-over never runs: the process died right after the commit.
    outbox = _send(aurelia, ada, recipient_did=PEER_DID if remote else borealis.did)
    assert _outbox(outbox).status == OutboxStatus.PENDING and _outbox(outbox).attempts == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_resend_pending_task() == 0  # not due yet: the first hand-over may still be running
    OutboxEnvelope.all_institutions.filter(pk=outbox.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_resend_pending_task() == 1

    assert _outbox(outbox).status == OutboxStatus.DELIVERED
    if remote:
        assert len(peer.calls) == 1
    else:
        assert not peer.calls
        assert InboxEnvelope.all_institutions.filter(institution=borealis, envelope_id=outbox.envelope_id).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_resend_pending_task() == 0  # nothing pending is left


@pytest.mark.django_db
def test_a_delivery_the_recipient_already_has_is_marked_delivered_not_duplicated(aurelia, borealis, ada, beatrice):
    """Crash after the recipient accepted but before the outbox was marked: the retry is harmless."""
    outbox = _send(aurelia, ada, recipient_did=borealis.did)
    assert envelope_receive(raw=raw(outbox.document)).created
    outbox, retry = outbox_deliver(envelope_id=str(outbox.envelope_id))
    assert not retry and outbox.status == OutboxStatus.DELIVERED
    assert _attempts(outbox) == [AttemptOutcome.ALREADY_ACCEPTED]
    assert InboxEnvelope.all_institutions.filter(envelope_id=outbox.envelope_id).count() == 1
    again, retry = outbox_deliver(envelope_id=str(outbox.envelope_id))
    assert again.attempts == 1 and not retry  # a delivered envelope is left alone


@pytest.mark.django_db
def test_a_pending_envelope_older_than_the_window_is_signed_again_with_the_same_id(aurelia, borealis, ada, beatrice):
    outbox = _send(aurelia, ada, recipient_did=borealis.did)
    old = signed_document(
        sender=aurelia,
        recipient_did=borealis.did,
        time=timezone.now() - timedelta(minutes=30),
        envelope_id=outbox.envelope_id,
    )
    OutboxEnvelope.all_institutions.filter(pk=outbox.pk).update(document=old)
    outbox, _retry = outbox_deliver(envelope_id=str(outbox.envelope_id))
    assert outbox.status == OutboxStatus.DELIVERED
    inbox = InboxEnvelope.all_institutions.get(envelope_id=outbox.envelope_id)
    assert inbox.document["time"] != old["time"] and inbox.document == outbox.document


@pytest.mark.django_db
@pytest.mark.parametrize(
    "recipient_did",
    ["not a did", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "did:web:169.254.169.254"],
)
def test_an_unusable_recipient_is_refused_before_anything_is_stored(aurelia, ada, recipient_did):
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as exc:
        _send(aurelia, ada, recipient_did=recipient_did)
    assert "recipient_did" in exc.value.extra["errors"]
    assert not OutboxEnvelope.all_institutions.exists() and AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_only_administrators_send_pings(aurelia, borealis, alice):
    with pytest.raises(PermissionDenied), institution_scope(aurelia):
        ping_send(sender=aurelia, recipient_did=borealis.did, message="hi", actor=alice)
    assert not OutboxEnvelope.all_institutions.exists()

"""Senders on other nodes: their keys come from their did:web documents, fetched over HTTPS.

The peer here is simulated: its DID document is built with the identity app's own
document builder for a key pair made in the test, and the did:web fetch is monkeypatched
(DNS answers a public address, HTTPS answers the document).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.federation import envelopes
from apps.federation.models import InboxEnvelope
from apps.federation.selectors import envelope_verify
from apps.federation.tests.helpers import raw, signed_document
from apps.federation.tests.test_receive import _assert_rejected, post
from apps.identity import did as dids
from apps.identity import keys
from apps.identity.models import SigningKey
from apps.identity.services import signing_key_create

PEER_DID = "did:web:peer.example:institutions:remote"
PUBLIC_ADDRESS = [(2, 1, 6, "", ("93.184.216.34", 443))]


class Peer:
    """A remote institution: a key pair and the DID document its node publishes."""

    def __init__(self, *, revoked: str = ""):
        self.private, self.public = keys.new_ed25519()
        method = dids._verification_method(PEER_DID, self.public, revoked=revoked)
        self.document = dids._document(PEER_DID, [method], active_ids=[] if revoked else [method["id"]])
        self.kid = method["id"]

    def sign(self, *, recipient_did: str, time=None, kid: str = "", body: dict | None = None) -> dict:
        document = envelopes.unsigned_document(
            envelope_id=uuid.uuid4(),
            type="federation.ping",
            sender=PEER_DID,
            recipient=recipient_did,
            time=time or timezone.now(),
            body={"message": "from afar"} if body is None else body,
        )
        protected_b64 = envelopes.protected_header(kid=kid or self.kid)
        signature = keys.sign(self.private, envelopes.signing_input(protected_b64=protected_b64, document=document))
        return {**document, "signature": f"{protected_b64}..{envelopes.b64url(signature)}"}


@pytest.fixture
def published():
    """Serve a peer's DID document at https://peer.example/institutions/remote/did.json."""
    cache.clear()
    served: dict = {}

    def get(url, **kwargs):
        assert url == "https://peer.example/institutions/remote/did.json"
        assert kwargs["allow_redirects"] is False and kwargs["timeout"]
        document = served["document"]
        return mock.Mock(status_code=200, content=b"{}", json=lambda: document)

    with (
        mock.patch("apps.identity.did.socket.getaddrinfo", return_value=PUBLIC_ADDRESS),
        mock.patch("apps.identity.did.requests.get", side_effect=get) as fetch,
    ):
        yield lambda peer: served.update(document=peer.document) or fetch
    cache.clear()


@pytest.mark.django_db
def test_an_envelope_from_a_remote_peer_verifies_against_its_did_document(client, borealis, published):
    peer = Peer()
    fetch = published(peer)
    document = peer.sign(recipient_did=borealis.did)
    assert envelope_verify(envelopes.parse(raw(document))).valid
    response = post(client, raw(document))
    assert response.status_code == 202, response.content
    inbox = InboxEnvelope.all_institutions.get(envelope_id=document["id"])
    assert inbox.institution == borealis and inbox.sender_did == PEER_DID
    assert fetch.call_count == 1  # the second resolution came from the cache


@pytest.mark.django_db
def test_an_envelope_signed_by_another_key_than_the_published_one_is_refused(client, borealis, published):
    peer, impostor = Peer(), Peer()
    published(peer)
    forged = impostor.sign(recipient_did=borealis.did, kid=peer.kid)
    _assert_rejected(client, raw(forged), status=403, code="invalid_signature")
    unknown = impostor.sign(recipient_did=borealis.did)  # its own key, which the peer's document does not list
    _assert_rejected(client, raw(unknown), status=403, code="unknown_sender")


@pytest.mark.django_db
def test_a_remote_retired_key_verifies_before_its_revocation_time_and_not_after(client, borealis, published):
    now = timezone.now()
    peer = Peer(revoked=envelopes.format_time(now - timedelta(minutes=1)))
    published(peer)
    before = peer.sign(recipient_did=borealis.did, time=now - timedelta(minutes=2))
    assert post(client, raw(before)).status_code == 202
    after = peer.sign(recipient_did=borealis.did, time=now)
    _assert_rejected(client, raw(after), status=403, code="key_revoked")


@pytest.mark.django_db
def test_an_unreadable_revocation_time_fails_closed(client, borealis, published):
    peer = Peer(revoked="last tuesday")
    published(peer)
    _assert_rejected(client, raw(peer.sign(recipient_did=borealis.did)), status=403, code="key_revoked")


@pytest.mark.django_db
def test_a_peer_that_cannot_be_resolved_is_an_unknown_sender(client, borealis):
    cache.clear()
    peer = Peer()
    with (
        mock.patch("apps.identity.did.socket.getaddrinfo", return_value=[(2, 1, 6, "", ("10.0.0.7", 443))]),
        mock.patch("apps.identity.did.requests.get") as fetch,
    ):
        _assert_rejected(client, raw(peer.sign(recipient_did=borealis.did)), status=403, code="unknown_sender")
    fetch.assert_not_called()  # a DID on a private address is never fetched


@pytest.mark.django_db
def test_the_old_fingerprint_kid_still_verifies_local_and_remote(client, aurelia, borealis, published):
    """Envelopes stored before kids were DID URLs named the key by `SigningKey.key_id`."""
    peer = Peer()
    published(peer)
    remote = peer.sign(recipient_did=borealis.did, kid=f"{PEER_DID}#{keys.key_fingerprint(peer.public)}")
    assert post(client, raw(remote)).status_code == 202

    current = signed_document(sender=aurelia, recipient_did=borealis.did)
    key = SigningKey.objects.get(owner_type="institution", owner_id=str(aurelia.pk), status="active")
    document = {k: v for k, v in current.items() if k != "signature"}
    protected_b64 = envelopes.protected_header(kid=f"{aurelia.did}#{key.key_id}")
    signature = keys.sign(
        keys.unseal(key.encrypted_private_key, key_id=key.key_id),
        envelopes.signing_input(protected_b64=protected_b64, document=document),
    )
    legacy = {**document, "signature": f"{protected_b64}..{envelopes.b64url(signature)}"}
    assert envelopes.parse(raw(legacy)).key_id == key.key_id
    assert post(client, raw(legacy)).status_code == 202


@pytest.mark.django_db
def test_a_local_key_retired_before_the_envelope_time_does_not_verify(client, aurelia, borealis):
    document = signed_document(sender=aurelia, recipient_did=borealis.did)
    from django.db import transaction

    with transaction.atomic():
        signing_key_create(owner_type="institution", owner_id=str(aurelia.pk), institution=aurelia)
    # The key stopped signing a minute before the envelope claims to have been signed.
    SigningKey.objects.filter(owner_type="institution", owner_id=str(aurelia.pk), status="retired").update(
        retired_at=timezone.now() - timedelta(minutes=1)
    )
    _assert_rejected(client, raw(document), status=403, code="key_revoked")


@pytest.mark.django_db
def test_a_did_key_sender_is_not_an_institution(client, borealis):
    private, public = keys.new_ed25519()
    sender = dids.did_key_from_public_key(public)
    document = envelopes.unsigned_document(
        envelope_id=uuid.uuid4(),
        type="federation.ping",
        sender=sender,
        recipient=borealis.did,
        time=timezone.now(),
        body={"message": "hi"},
    )
    protected_b64 = envelopes.protected_header(kid=dids.did_key_verification_method(sender))
    signature = keys.sign(private, envelopes.signing_input(protected_b64=protected_b64, document=document))
    document["signature"] = f"{protected_b64}..{envelopes.b64url(signature)}"
    _assert_rejected(client, raw(document), status=403, code="unknown_sender")

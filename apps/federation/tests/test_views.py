"""The outbox and inbox pages and their API, for administrators and auditors."""

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.federation.models import InboxEnvelope, OutboxEnvelope, OutboxStatus
from apps.federation.services import envelope_receive
from apps.federation.tests.helpers import raw, signed_document
from apps.tenancy.models import Role
from portal.testing import UserFactory, api_as, enrol_totp, member


@pytest.fixture
def audrey(aurelia):
    """An auditor of Aurelia, nothing else."""
    user = member(UserFactory(username="audrey"), aurelia, Role.AUDITOR)
    enrol_totp(user)
    return user


def _url(name, institution, **kwargs):
    return reverse(name, kwargs={"institution_slug": institution.slug, **kwargs})


@pytest.mark.django_db
def test_an_admin_sends_a_ping_from_the_outbox_page_and_sees_it_delivered(
    client, aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks
):
    client.force_login(ada)
    page = client.get(_url("federation:outbox", aurelia))
    assert page.status_code == 200 and b"Send a ping" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _url("federation:outbox", aurelia), {"recipient_did": borealis.did, "message": "Hello Borealis"}
        )
    outbox = OutboxEnvelope.all_institutions.get()
    assert response.status_code == 302
    assert response["Location"] == _url("federation:outbox-detail", aurelia, outbox_envelope_id=outbox.envelope_id)
    assert outbox.status == OutboxStatus.DELIVERED

    detail = client.get(response["Location"])
    assert detail.status_code == 200
    content = detail.content.decode()
    assert "Signature and body digest are valid." in content
    assert "Hello Borealis" in content and str(outbox.envelope_id) in content
    assert "Delivered" in content


@pytest.mark.django_db
def test_a_bad_recipient_shows_the_error_on_the_form_and_changes_nothing(client, aurelia, ada):
    client.force_login(ada)
    events = AuditEvent.objects.count()
    response = client.post(_url("federation:outbox", aurelia), {"recipient_did": "did:key:zzz", "message": "x"})
    assert response.status_code == 400
    assert b"Only did:web recipients" in response.content
    assert not OutboxEnvelope.all_institutions.exists() and AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_the_inbox_pages_show_the_envelope_and_its_verification(client, aurelia, borealis, ada):
    inbox = envelope_receive(raw=raw(signed_document(sender=borealis, recipient_did=aurelia.did))).envelope
    client.force_login(ada)
    listing = client.get(_url("federation:inbox", aurelia))
    assert listing.status_code == 200 and borealis.name.encode() in listing.content
    detail = client.get(_url("federation:inbox-detail", aurelia, inbox_envelope_id=inbox.envelope_id))
    assert detail.status_code == 200
    assert b"Signature and body digest are valid." in detail.content
    assert inbox.document["signature"].encode() in detail.content


@pytest.mark.django_db
def test_a_stored_envelope_changed_afterwards_shows_as_not_valid(client, aurelia, borealis, ada):
    inbox = envelope_receive(raw=raw(signed_document(sender=borealis, recipient_did=aurelia.did))).envelope
    document = {**inbox.document, "body": {"message": "rewritten in the database"}}
    InboxEnvelope.all_institutions.filter(pk=inbox.pk).update(document=document)
    client.force_login(ada)
    detail = client.get(_url("federation:inbox-detail", aurelia, inbox_envelope_id=inbox.envelope_id))
    assert b"NOT valid" in detail.content and b"body_digest_mismatch" in detail.content


@pytest.mark.django_db
def test_auditors_read_but_do_not_send(client, aurelia, borealis, audrey):
    client.force_login(audrey)
    page = client.get(_url("federation:outbox", aurelia))
    assert page.status_code == 200 and b"Send a ping" not in page.content
    assert client.get(_url("federation:inbox", aurelia)).status_code == 200
    response = client.post(_url("federation:outbox", aurelia), {"recipient_did": borealis.did})
    assert response.status_code == 403 and not OutboxEnvelope.all_institutions.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["federation:outbox", "federation:inbox"])
def test_other_members_are_refused(client, aurelia, alice, bob, name):
    for person in (alice, bob):
        client.force_login(person)
        assert client.get(_url(name, aurelia)).status_code == 403


@pytest.mark.django_db
def test_the_api_sends_a_ping_and_lists_and_shows_envelopes(
    aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    api = api_as(ada)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            _url("api-federation-outbox", aurelia), {"recipient_did": borealis.did, "message": "via API"}, format="json"
        )
    assert response.status_code == 201, response.content
    envelope_id = response.json()["envelope_id"]

    for _ in range(3):
        envelope_receive(raw=raw(signed_document(sender=borealis, recipient_did=aurelia.did)))
    with django_assert_max_num_queries(12):
        listing = api.get(_url("api-federation-outbox", aurelia))
    assert [row["envelope_id"] for row in listing.json()["results"]] == [envelope_id]
    assert listing.json()["results"][0]["status"] == "delivered"

    detail = api.get(_url("api-federation-outbox-envelope", aurelia, outbox_envelope_id=envelope_id)).json()
    assert detail["verification"]["valid"] is True
    assert detail["document"]["body"] == {"message": "via API"}
    assert [a["outcome"] for a in detail["delivery_attempts"]] == ["delivered"]

    with django_assert_max_num_queries(12):
        inbox = api.get(_url("api-federation-institution-inbox", aurelia)).json()
    assert inbox["count"] == 3
    one = inbox["results"][0]["envelope_id"]
    inbox_detail = api.get(_url("api-federation-inbox-envelope", aurelia, inbox_envelope_id=one)).json()
    assert inbox_detail["verification"]["valid"] is True and inbox_detail["sender_did"] == borealis.did


@pytest.mark.django_db
def test_the_api_refuses_pings_from_auditors_and_bad_input(aurelia, borealis, ada, audrey, alice):
    response = api_as(audrey).post(_url("api-federation-outbox", aurelia), {"recipient_did": borealis.did})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    response = api_as(ada).post(_url("api-federation-outbox", aurelia), {"recipient_did": "nope"})
    assert response.status_code == 400 and "recipient_did" in response.json()["errors"]
    assert api_as(alice).get(_url("api-federation-outbox", aurelia)).status_code == 403
    assert not OutboxEnvelope.all_institutions.exists()

"""The wallet: a person's own credentials, checked as a verifier would, and presentations made from them."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.identity.credentials.services import credential_revoke, credential_suspend
from apps.identity.credentials.verify import verify_presentation
from apps.identity.models import Credential, Presentation
from apps.identity.tests.residence_helpers import media_root, prove_residence
from apps.identity.wallet.selectors import credentials_held_with_state
from apps.identity.wallet.services import wallet_presentation_create
from apps.tenancy.scope import institution_scope
from portal.errors import PermissionDenied, ValidationFailed
from portal.testing import UserFactory, api_as

__all__ = ["media_root"]  # the autouse fixture


@pytest.fixture
def dora(db):
    return UserFactory(username="dora", first_name="Dora")


@pytest.fixture
def doras_credential(dora, aurelia, alice):
    return prove_residence(dora, aurelia, alice).credential


@pytest.fixture
def bobs_credential(bob, aurelia, alice):
    return prove_residence(bob, aurelia, alice).credential


def _codes(result):
    return [e["code"] for e in result["errors"]]


@pytest.mark.django_db
def test_a_presentation_verifies_only_for_its_challenge_and_domain(dora, doras_credential):
    presentation = wallet_presentation_create(
        holder=dora, credential=doras_credential, challenge="c-7f3a", domain="permits.example.org"
    )
    document = presentation.document
    assert document["holder"] == dora.did
    assert document["verifiableCredential"] == [doras_credential.document]
    assert verify_presentation(document, challenge="c-7f3a", domain="permits.example.org")["verified"]
    assert _codes(verify_presentation(document, challenge="other", domain="permits.example.org")) == [
        "challenge_mismatch"
    ]
    assert _codes(verify_presentation(document, challenge="c-7f3a", domain="evil.example")) == ["domain_mismatch"]
    assert presentation.holder == dora and presentation.credential == doras_credential
    event = AuditEvent.objects.get(action="identity.wallet.present")
    assert event.actor_label == "dora" and event.changes["challenge"] == "c-7f3a"


@pytest.mark.django_db
def test_a_presentation_of_a_revoked_credential_does_not_verify(dora, doras_credential, aurelia, alice):
    with institution_scope(aurelia):
        credential_revoke(credential=doras_credential, actor=alice, reason="moved")
    presentation = wallet_presentation_create(holder=dora, credential=doras_credential, challenge="c1")
    assert "credential_invalid" in _codes(verify_presentation(presentation.document, challenge="c1"))


@pytest.mark.django_db
def test_only_the_holder_presents_and_a_challenge_is_required(dora, bob, doras_credential):
    with pytest.raises(PermissionDenied):
        wallet_presentation_create(holder=bob, credential=doras_credential, challenge="c1")
    with pytest.raises(ValidationFailed) as error:
        wallet_presentation_create(holder=dora, credential=doras_credential, challenge="  ")
    assert "challenge" in error.value.extra["errors"]
    assert not Presentation.objects.exists()


@pytest.mark.django_db
def test_the_state_shown_is_what_verification_says(dora, doras_credential, aurelia, alice):
    assert [h.state for h in credentials_held_with_state(user=dora)] == ["valid"]
    with institution_scope(aurelia):
        credential_suspend(credential=doras_credential, actor=alice)
    assert [h.state for h in credentials_held_with_state(user=dora)] == ["suspended"]
    with institution_scope(aurelia):
        credential_revoke(credential=Credential.objects.get(pk=doras_credential.pk), actor=alice)
    assert [h.state for h in credentials_held_with_state(user=dora)] == ["revoked"]


# --- Web pages -----------------------------------------------------------------------


@pytest.mark.django_db
def test_present_from_the_wallet_page_and_download_the_json(client, dora, doras_credential):
    client.force_login(dora)
    url = reverse("wallet:credential", kwargs={"credential_id": doras_credential.uuid})
    page = client.get(url)
    assert page.status_code == 200
    content = page.content.decode()
    assert "<svg" in content and f"?id={doras_credential.uuid}" in content and "Valid" in content

    empty = client.post(url, {"challenge": "", "domain": ""})
    assert empty.status_code == 400 and not Presentation.objects.exists()

    response = client.post(url, {"challenge": "c-42", "domain": "permits.example.org"})
    presentation = Presentation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("wallet:presentation", kwargs={"presentation_id": presentation.uuid})
    download = client.get(reverse("wallet:presentation-json", kwargs={"presentation_id": presentation.uuid}))
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    document = json.loads(download.content)
    assert verify_presentation(document, challenge="c-42", domain="permits.example.org")["verified"]
    wallet = client.get(reverse("wallet:home")).content.decode()
    assert "c-42" in wallet and "permits.example.org" in wallet


@pytest.mark.django_db
def test_another_persons_wallet_entries_are_never_visible(client, dora, bob, doras_credential, bobs_credential):
    bobs_presentation = wallet_presentation_create(holder=bob, credential=bobs_credential, challenge="bob-secret")
    client.force_login(dora)
    wallet = client.get(reverse("wallet:home")).content.decode()
    assert str(doras_credential.uuid) in wallet
    assert str(bobs_credential.uuid) not in wallet and "bob-secret" not in wallet
    for url in (
        reverse("wallet:credential", kwargs={"credential_id": bobs_credential.uuid}),
        reverse("wallet:presentation", kwargs={"presentation_id": bobs_presentation.uuid}),
        reverse("wallet:presentation-json", kwargs={"presentation_id": bobs_presentation.uuid}),
    ):
        assert client.get(url).status_code == 404, url
    before = Presentation.objects.count()
    response = client.post(
        reverse("wallet:credential", kwargs={"credential_id": bobs_credential.uuid}), {"challenge": "c"}
    )
    assert response.status_code == 404 and Presentation.objects.count() == before


# --- API -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_lists_only_the_callers_credentials(dora, doras_credential, bobs_credential):
    client = api_as(dora)
    response = client.get("/api/v1/wallet/credentials/")
    assert response.status_code == 200
    [entry] = response.json()["results"]
    assert entry["id"] == str(doras_credential.uuid) and entry["state"] == "valid"
    assert entry["types"] == ["ResidenceCredential"] and entry["document"] == doras_credential.document


@pytest.mark.django_db
def test_api_creates_a_presentation(dora, doras_credential, bobs_credential):
    client = api_as(dora)
    response = client.post(
        "/api/v1/wallet/presentations/",
        {"credential_id": str(doras_credential.uuid), "challenge": "api-1", "domain": "verifier.example"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["credential_id"] == str(doras_credential.uuid)
    assert verify_presentation(body["presentation"], challenge="api-1", domain="verifier.example")["verified"]
    assert [p["id"] for p in client.get("/api/v1/wallet/presentations/").json()["results"]] == [body["id"]]

    missing = client.post("/api/v1/wallet/presentations/", {"credential_id": str(doras_credential.uuid)}, format="json")
    assert missing.status_code == 400 and missing["Content-Type"].startswith("application/problem+json")
    foreign = client.post(
        "/api/v1/wallet/presentations/",
        {"credential_id": str(bobs_credential.uuid), "challenge": "x"},
        format="json",
    )
    assert foreign.status_code == 404 and foreign.json()["code"] == "not_found"
    assert Presentation.objects.count() == 1


@pytest.mark.django_db
def test_api_wallet_needs_authentication(api_client):
    assert api_client.get("/api/v1/wallet/credentials/").status_code in (401, 403)
    assert api_client.post("/api/v1/wallet/presentations/", {}, format="json").status_code in (401, 403)

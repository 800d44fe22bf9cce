from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.identity.credentials.present import presentation_create, user_key
from apps.identity.credentials.services import credential_issue, user_did_ensure
from apps.identity.models import Credential, CredentialStatus
from apps.tenancy.scope import institution_scope
from portal.testing import api_as

VERIFY = "/api/v1/credentials/verify"


@pytest.fixture
def credential(aurelia, alice):
    with institution_scope(aurelia):
        return credential_issue(
            institution=aurelia,
            subject={"id": "did:example:holder", "permit": "Market stall, plot 17"},
            types=["PermitCredential"],
            actor=alice,
        )


def _base(aurelia, credential):
    return f"/api/v1/institutions/{aurelia.slug}/credentials/{credential.uuid}/"


@pytest.mark.django_db
def test_verify_api_answers_anyone(api_client, credential):
    response = api_client.post(VERIFY, credential.document, format="json")
    assert response.status_code == 200
    assert response.json()["verified"] is True
    wrapped = api_client.post(VERIFY, {"verifiableCredential": credential.document}, format="json")
    assert wrapped.json()["verified"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    ["[1, 2]", '"a string"', '{"type": ["Something"]}', "{not json", '{"options": 3}', "{}"],
)
def test_verify_api_refuses_what_is_not_a_credential_with_400(api_client, body):
    events = AuditEvent.objects.count()
    response = api_client.post(VERIFY, body, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] in {"validation_failed", "malformed_request"}
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_verify_api_checks_presentations_against_the_challenge(api_client, credential, bob):
    user_did_ensure(user=bob)
    presentation = presentation_create(
        holder_key=user_key(user=bob), credentials=[credential.document], challenge="c-1"
    )
    ok = api_client.post(VERIFY, {"presentation": presentation, "options": {"challenge": "c-1"}}, format="json")
    assert ok.json()["verified"] is True
    replay = api_client.post(VERIFY, {"presentation": presentation, "options": {"challenge": "c-2"}}, format="json")
    assert [e["code"] for e in replay.json()["errors"]] == ["challenge_mismatch"]


@pytest.mark.django_db
def test_verify_api_is_throttled(api_client, credential, settings):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import AnonRateThrottle

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "anon": "2/min"}
    original = AnonRateThrottle.THROTTLE_RATES
    AnonRateThrottle.THROTTLE_RATES = rates
    try:
        codes = [api_client.post(VERIFY, credential.document, format="json").status_code for _ in range(3)]
    finally:
        AnonRateThrottle.THROTTLE_RATES = original
    assert codes == [200, 200, 429]


@pytest.mark.django_db
def test_staff_list_read_and_change_status(aurelia, alice, credential, django_assert_max_num_queries):
    client = api_as(alice)
    with django_assert_max_num_queries(8):
        listing = client.get(f"/api/v1/institutions/{aurelia.slug}/credentials/")
    assert listing.status_code == 200
    assert [c["id"] for c in listing.json()["results"]] == [str(credential.uuid)]
    detail = client.get(_base(aurelia, credential))
    assert detail.json()["document"] == credential.document
    assert (
        client.post(_base(aurelia, credential) + "suspend/", {"reason": "inspection"}).json()["status"] == "suspended"
    )
    assert client.get(f"/api/v1/institutions/{aurelia.slug}/credentials/?status=suspended").json()["count"] == 1
    assert client.post(_base(aurelia, credential) + "reinstate/").json()["status"] == "active"
    assert client.post(_base(aurelia, credential) + "revoke/", {"reason": "fraud"}).json()["status"] == "revoked"
    again = client.post(_base(aurelia, credential) + "revoke/")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    verdict = api_as(alice).post(VERIFY, credential.document, format="json").json()
    assert [e["code"] for e in verdict["errors"]] == ["revoked"]


@pytest.mark.django_db
def test_citizens_may_not_and_outsiders_get_404_with_nothing_changed(aurelia, bob, charlie, credential):
    # Refused attempts may be logged as such; no credential change is.
    events = AuditEvent.objects.filter(action__startswith="identity.credential.").count()
    assert api_as(bob).get(f"/api/v1/institutions/{aurelia.slug}/credentials/").status_code == 403
    assert api_as(bob).post(_base(aurelia, credential) + "revoke/").status_code == 403
    for path in ("", "revoke/", "suspend/", "reinstate/"):
        response = api_as(charlie).post(_base(aurelia, credential) + path)
        assert response.status_code == 404, path
    assert api_as(charlie).get(_base(aurelia, credential)).status_code == 404
    assert api_as(charlie).get(f"/api/v1/institutions/{aurelia.slug}/credentials/").status_code == 404
    with institution_scope(aurelia):
        assert Credential.objects.get(pk=credential.pk).status == CredentialStatus.ACTIVE
    assert AuditEvent.objects.filter(action__startswith="identity.credential.").count() == events


@pytest.mark.django_db
def test_bad_reason_is_refused_and_changes_nothing(aurelia, alice, credential):
    events = AuditEvent.objects.count()
    response = api_as(alice).post(_base(aurelia, credential) + "revoke/", {"reason": "x" * 501})
    assert response.status_code == 400
    credential.refresh_from_db()
    assert credential.status == CredentialStatus.ACTIVE
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_public_verify_page_from_the_qr_link(client, credential):
    response = client.get(f"/credentials/verify/?id={credential.uuid}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "This credential is genuine and valid" in body
    assert "Market stall, plot 17" in body
    assert client.get("/credentials/verify/?id=not-a-uuid").status_code == 404
    assert client.get("/credentials/verify/?id=00000000-0000-4000-8000-000000000000").status_code == 404


@pytest.mark.django_db
def test_public_verify_page_with_pasted_json(client, credential):
    import json

    tampered = json.loads(json.dumps(credential.document))
    tampered["credentialSubject"]["permit"] = "Casino"
    response = client.post("/credentials/verify/", {"document": json.dumps(tampered)})
    assert response.status_code == 200
    assert "cannot be trusted" in response.content.decode()
    assert "signature does not match" in response.content.decode()
    assert client.post("/credentials/verify/", {"document": "{oops"}).status_code == 400
    assert client.get("/credentials/verify/").status_code == 200


@pytest.mark.django_db
def test_credential_page_has_a_qr_code_without_inline_style_or_script(client, alice, aurelia, credential):
    client.force_login(alice)
    response = client.get(f"/i/{aurelia.slug}/credentials/{credential.uuid}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<svg" in body and f"/credentials/verify/?id={credential.uuid}" in body
    assert "style=" not in body and "<script>" not in body and "<style" not in body
    assert "script-src 'self'" in response["Content-Security-Policy"]
    listing = client.get(f"/i/{aurelia.slug}/credentials/")
    assert listing.status_code == 200 and str(credential.uuid) in listing.content.decode()


@pytest.mark.django_db
def test_citizens_do_not_see_the_institutions_credentials(client, bob, aurelia, credential):
    client.force_login(bob)
    assert client.get(f"/i/{aurelia.slug}/credentials/").status_code == 403
    assert client.get(f"/i/{aurelia.slug}/credentials/{credential.uuid}/").status_code == 403


@pytest.mark.django_db
def test_expired_credential_reads_plainly_on_the_page(client, aurelia):
    with institution_scope(aurelia):
        old = credential_issue(
            institution=aurelia,
            subject={"id": "did:example:x", "permit": "old"},
            types=["PermitCredential"],
            valid_from=timezone.now() - timedelta(days=30),
            valid_until=timezone.now() - timedelta(days=1),
        )
    body = client.get(f"/credentials/verify/?id={old.uuid}").content.decode()
    assert "The credential expired on" in body

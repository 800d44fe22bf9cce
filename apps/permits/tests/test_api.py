"""The permits API: an integrator-style client applies with JSON and multipart, follows the timeline,
a civil servant decides, an administrator suspends; bad input is a problem document and changes nothing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.identity.credentials.verify import verify_credential
from apps.permits.models import ApplicationStatus, PermitApplication, PermitType
from apps.permits.tests.conftest import ANSWERS, PDF
from portal.testing import api_as

pytestmark = pytest.mark.django_db

BASE = "/api/v1/institutions/aurelia/permits/"


def test_the_whole_path_through_the_api(permit_type, bob, alice, ada, django_capture_on_commit_callbacks):
    citizen = api_as(bob)
    types = citizen.get(f"{BASE}types/")
    assert types.status_code == 200
    assert types.json()["results"][0]["fields"][0]["name"] == "crowd_size"
    upload = SimpleUploadedFile("plan.pdf", PDF, content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        response = citizen.post(
            f"{BASE}applications/",
            {"permit_type": "street-event", "data": json.dumps(ANSWERS), "site_plan": upload},
            format="multipart",
        )
    assert response.status_code == 201, response.json()
    application_id = response.json()["id"]
    detail = citizen.get(f"{BASE}applications/{application_id}/").json()
    assert detail["status"] == ApplicationStatus.AWAITING_CONFIRMATION
    assert [step["status_to"] for step in detail["timeline"]][-1] == "awaiting_confirmation"
    assert detail["agent_decision"] == "approve"

    refused = citizen.post(f"{BASE}applications/{application_id}/decide/", {"decision": "approve"}, format="json")
    assert refused.status_code == 403
    decided = api_as(alice).post(f"{BASE}applications/{application_id}/decide/", {"decision": "approve"}, format="json")
    assert decided.status_code == 200 and decided.json()["status"] == "issued"
    permit_id = citizen.get(f"{BASE}applications/{application_id}/").json()["permit"]
    permit = citizen.get(f"{BASE}permits/{permit_id}/").json()
    assert verify_credential(permit["document"])["verified"]
    assert permit["verify_url"].endswith(f"?id={permit['credential']}")

    assert (
        api_as(alice).post(f"{BASE}permits/{permit_id}/status/", {"action": "suspend", "reason": "x"}).status_code
        == 403
    )
    suspended = api_as(ada).post(
        f"{BASE}permits/{permit_id}/status/", {"action": "suspend", "reason": "Complaints."}, format="json"
    )
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    result = api_as(ada).post("/api/v1/credentials/verify", permit["document"], format="json").json()
    assert "suspended" in {e["code"] for e in result["errors"]}


def test_bad_input_is_a_problem_document_and_changes_nothing(permit_type, plain_type, bob, ada):
    citizen = api_as(bob)
    audit_before = AuditEvent.objects.count()
    response = citizen.post(
        f"{BASE}applications/",
        {"permit_type": "kiosk", "data": {**ANSWERS, "crowd_size": "lots", "unknown": 1}},
        format="json",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert set(response.json()["errors"]) == {"crowd_size", "unknown"}
    response = citizen.post(f"{BASE}applications/", {"permit_type": "street-event", "data": ANSWERS}, format="json")
    assert response.status_code == 400 and "site_plan" in response.json()["errors"]
    response = citizen.post(f"{BASE}applications/", {"permit_type": "nope", "data": ANSWERS}, format="json")
    assert response.status_code == 404
    assert not PermitApplication.all_institutions.exists()
    assert AuditEvent.objects.count() == audit_before

    assert citizen.post(f"{BASE}types/", {"name": "X", "slug": "x"}, format="json").status_code == 403
    bad = api_as(ada).post(f"{BASE}types/", {"name": "X", "slug": "x", "fields": [{"name": "1"}]}, format="json")
    assert bad.status_code == 400 and "fields" in bad.json()["errors"]
    assert PermitType.all_institutions.count() == 2


def test_a_draft_is_submitted_then_withdrawn(plain_type, bob):
    citizen = api_as(bob)
    draft = citizen.post(
        f"{BASE}applications/", {"permit_type": "kiosk", "data": ANSWERS, "submit": False}, format="json"
    ).json()
    assert draft["status"] == "draft"
    assert citizen.post(f"{BASE}applications/{draft['id']}/submit/").json()["status"] == "submitted"
    assert citizen.post(f"{BASE}applications/{draft['id']}/withdraw/").json()["status"] == "withdrawn"
    again = citizen.post(f"{BASE}applications/{draft['id']}/withdraw/")
    assert again.status_code == 409


def test_list_endpoints_have_a_pinned_number_of_queries(aurelia, plain_type, bob, alice, django_assert_max_num_queries):
    from apps.permits import services
    from apps.tenancy.scope import institution_scope

    with institution_scope(aurelia):
        for _ in range(6):
            application = services.application_create(permit_type=plain_type, applicant=bob, data=ANSWERS)
            services.application_decide(application=application, actor=alice, approve=True)
    for user, path in ((alice, "applications/"), (alice, "permits/"), (bob, "permits/"), (bob, "types/")):
        client = api_as(user)
        with django_assert_max_num_queries(10):
            assert client.get(f"{BASE}{path}").status_code == 200


def test_the_holder_renews_through_the_api_and_bad_input_changes_nothing(
    permit_type, bob, alice, django_capture_on_commit_callbacks
):
    from apps.permits.models import Permit

    citizen = api_as(bob)
    upload = SimpleUploadedFile("plan.pdf", PDF, content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        application_id = citizen.post(
            f"{BASE}applications/",
            {"permit_type": "street-event", "data": json.dumps(ANSWERS), "site_plan": upload},
            format="multipart",
        ).json()["id"]
    api_as(alice).post(f"{BASE}applications/{application_id}/decide/", {"decision": "approve"}, format="json")
    permit = Permit.all_institutions.get(application_id=application_id)
    url = f"{BASE}permits/{permit.pk}/renew/"
    audit_before = AuditEvent.objects.filter(action__startswith="permits.").count()  # a refusal is audited apart

    bad = citizen.post(url, {"data": {"crowd_size": "lots"}}, format="json")
    assert bad.status_code == 400 and bad["Content-Type"].startswith("application/problem+json")
    assert "crowd_size" in bad.json()["errors"]
    assert citizen.post(url, {"data": "not an object"}, format="json").status_code == 400
    refused = api_as(alice).post(url, {}, format="json")  # staff read the permit; only the holder renews
    assert refused.status_code == 403
    assert not PermitApplication.all_institutions.filter(renews=permit).exists()
    assert AuditEvent.objects.filter(action__startswith="permits.").count() == audit_before

    with django_capture_on_commit_callbacks(execute=True):
        renewed = citizen.post(url, {"data": {"crowd_size": 140}}, format="json")
    assert renewed.status_code == 201, renewed.json()
    renewal = PermitApplication.all_institutions.get(pk=renewed.json()["id"])
    assert renewal.renews == permit and renewal.data["crowd_size"] == 140 and renewal.data["venue"] == "park"
    again = citizen.post(url, {}, format="json")
    assert again.status_code == 409 and again["Content-Type"].startswith("application/problem+json")
    assert PermitApplication.all_institutions.filter(renews=permit).count() == 1

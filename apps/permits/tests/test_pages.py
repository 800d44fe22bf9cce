"""The permit pages: a citizen applies through the generated form and follows the status page, a civil
servant confirms, the permit page shows its QR code and the public verifier sees a suspension;
bad input and wrong roles change nothing; list pages have a pinned number of queries."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.permits.models import ApplicationStatus, Permit, PermitApplication, PermitType
from apps.permits.tests.conftest import PDF
from apps.tenancy.scope import institution_scope

pytestmark = pytest.mark.django_db

APPLY = "/i/aurelia/permits/types/street-event/apply/"


def _form(**extra):
    data = {"crowd_size": "120", "fee_paid": "on", "event_date": "2027-06-01", "venue": "park"}
    data["attachment__site_plan"] = SimpleUploadedFile("plan.pdf", PDF, content_type="application/pdf")
    data.update(extra)
    return data


def test_a_citizen_applies_through_the_form_a_civil_servant_confirms_and_anyone_verifies(
    client, permit_type, bob, alice, ada, django_capture_on_commit_callbacks
):
    client.force_login(bob)
    page = client.get(APPLY)
    assert page.status_code == 200
    assert b'name="crowd_size"' in page.content and b'type="date"' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(APPLY, _form())
    application = PermitApplication.all_institutions.get()
    assert response.status_code == 302
    assert response.url == f"/i/aurelia/permits/applications/{application.pk}/"
    status_page = client.get(response.url)
    assert application.get_status_display().encode() in status_page.content or b"Awaiting" in status_page.content
    assert b"The agents propose" in status_page.content

    client.force_login(alice)
    queue = client.get("/i/aurelia/permits/applications/")
    assert b"bob" in queue.content.lower()
    attachment = client.get(f"/i/aurelia/permits/applications/{application.pk}/attachments/site_plan/")
    assert attachment.status_code == 200 and attachment["Content-Security-Policy"] == "sandbox"
    response = client.post(f"/i/aurelia/permits/applications/{application.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ISSUED
    permit = Permit.all_institutions.get()

    client.force_login(bob)
    permit_page = client.get(f"/i/aurelia/permits/permits/{permit.pk}/")
    assert b"<svg" in permit_page.content
    assert f"/credentials/verify/?id={permit.credential.uuid}".encode() in permit_page.content
    wallet = client.get("/wallet/")
    assert str(permit.credential.uuid).encode() in wallet.content or b"PermitCredential" in wallet.content

    client.force_login(ada)
    response = client.post(
        f"/i/aurelia/permits/permits/{permit.pk}/status/", {"action": "suspend", "reason": "Complaints."}
    )
    assert response.status_code == 302
    client.logout()
    verify = client.get(f"/credentials/verify/?id={permit.credential.uuid}")
    assert verify.status_code == 200
    assert b"suspended" in verify.content.lower()


def test_bad_input_on_the_form_changes_nothing(client, permit_type, bob, django_capture_on_commit_callbacks):
    client.force_login(bob)
    audit_before = AuditEvent.objects.count()
    bad_file = SimpleUploadedFile("plan.pdf", b"GIF89a not a pdf", content_type="application/pdf")
    for data in (_form(crowd_size="lots"), _form(venue="moon"), _form(attachment__site_plan=bad_file)):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(APPLY, data)
        assert response.status_code == 400
        assert b"Error:" in response.content
    assert not PermitApplication.all_institutions.exists()
    assert AuditEvent.objects.count() == audit_before


def test_wrong_roles_are_refused(client, permit_type, alice, bob, django_capture_on_commit_callbacks):
    client.force_login(alice)  # a civil servant does not apply
    assert client.post(APPLY, _form()).status_code == 403
    client.force_login(bob)  # a citizen neither manages types nor sees the queue
    assert client.get("/i/aurelia/permits/types/").status_code == 403
    assert client.get("/i/aurelia/permits/applications/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        client.post(APPLY, _form())
    application = PermitApplication.all_institutions.get()
    response = client.post(f"/i/aurelia/permits/applications/{application.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 403
    application.refresh_from_db()
    assert application.status == ApplicationStatus.AWAITING_CONFIRMATION


def test_another_citizens_application_is_404(client, plain_type, bob, aurelia, django_capture_on_commit_callbacks):
    from apps.permits import services
    from portal.testing import UserFactory, member

    dora = member(UserFactory(username="dora"), aurelia, "citizen")
    with institution_scope(aurelia):
        application = services.application_create(
            permit_type=plain_type, applicant=dora, data={"crowd_size": 1, "fee_paid": False, "venue": "park"}
        )
    client.force_login(bob)
    assert client.get(f"/i/aurelia/permits/applications/{application.pk}/").status_code == 404
    assert client.post(f"/i/aurelia/permits/applications/{application.pk}/withdraw/").status_code == 404
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED


def test_an_admin_defines_a_permit_type_through_the_page(client, ada):
    client.force_login(ada)
    assert client.get("/i/aurelia/permits/types/new/").status_code == 200
    bad = client.post(
        "/i/aurelia/permits/types/new/",
        {
            "name": "Kiosk",
            "slug": "kiosk",
            "field_schema": "[{",
            "fee_amount": "0",
            "fee_currency": "EUR",
            "validity_days": "365",
        },
    )
    assert bad.status_code == 400
    bad = client.post(
        "/i/aurelia/permits/types/new/",
        {
            "name": "Kiosk",
            "slug": "kiosk",
            "field_schema": '[{"name": "Bad name"}]',
            "fee_amount": "0",
            "fee_currency": "EUR",
            "validity_days": "365",
        },
    )
    assert bad.status_code == 400
    assert not PermitType.all_institutions.exists()
    good = client.post(
        "/i/aurelia/permits/types/new/",
        {
            "name": "Kiosk",
            "slug": "kiosk",
            "field_schema": json.dumps(
                [{"name": "stand", "label": "Stand", "type": "choice", "required": True, "choices": ["a", "b"]}]
            ),
            "attachments": "site_plan, insurance",
            "fee_amount": "12.50",
            "fee_currency": "EUR",
            "validity_days": "90",
            "process_key": "kiosk_permit",
            "active": "on",
        },
    )
    assert good.status_code == 302
    permit_type = PermitType.all_institutions.get()
    assert permit_type.attachments == ["site_plan", "insurance"]
    assert str(permit_type.fee_amount) == "12.50"
    assert client.get("/i/aurelia/permits/types/kiosk/edit/").status_code == 200


def test_list_pages_have_a_pinned_number_of_queries(
    client, aurelia, ada, alice, bob, plain_type, django_assert_max_num_queries
):
    from apps.permits import services

    with institution_scope(aurelia):
        for _ in range(6):
            application = services.application_create(
                permit_type=plain_type, applicant=bob, data={"crowd_size": 1, "fee_paid": True, "venue": "park"}
            )
            services.application_decide(application=application, actor=alice, approve=True)
    client.force_login(alice)
    client.get("/i/aurelia/permits/applications/?status=all")  # warm the session
    with django_assert_max_num_queries(12):
        assert client.get("/i/aurelia/permits/applications/?status=all").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/i/aurelia/permits/permits/").status_code == 200
    client.force_login(bob)
    client.get("/i/aurelia/permits/")
    with django_assert_max_num_queries(12):
        assert client.get("/i/aurelia/permits/").status_code == 200


def test_the_dashboard_leads_citizens_and_civil_servants_to_permits(client, permit_type, alice, bob):
    client.force_login(bob)
    assert b"Apply for a permit or follow your applications" in client.get("/i/aurelia/").content
    client.force_login(alice)
    assert b"Open the permit applications" in client.get("/i/aurelia/").content


def test_the_answers_read_with_their_labels_yes_or_no_and_a_date(
    client, plain_type, bob, alice, django_capture_on_commit_callbacks
):
    from apps.permits import services
    from apps.permits.tests.conftest import ANSWERS

    with institution_scope(plain_type.institution), django_capture_on_commit_callbacks(execute=True):
        application = services.application_create(permit_type=plain_type, applicant=bob, data=ANSWERS, files={})
        services.application_decide(application=application, actor=alice, approve=True)
    permit = Permit.all_institutions.get(application=application)
    client.force_login(bob)
    for url in (f"/i/aurelia/permits/applications/{application.pk}/", f"/i/aurelia/permits/permits/{permit.pk}/"):
        page = client.get(url).content.decode()
        assert "<dt>Expected crowd</dt><dd>120</dd>" in page
        assert "<dt>Fee paid</dt><dd>Yes</dd>" in page
        assert "<dt>Date</dt><dd>June 1, 2027</dd>" in page
        assert "crowd_size" not in page and "True" not in page

"""A person proves residence to a municipality; its civil servants decide in the UI; a credential follows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.identity.credentials.services import credential_revoke, credential_suspend
from apps.identity.credentials.verify import verify_credential
from apps.identity.eligibility import resident_of
from apps.identity.models import Credential, ResidenceRequest, ResidenceRequestStatus
from apps.identity.residence import uploads
from apps.identity.residence.services import (
    residence_request_approve,
    residence_request_reject,
    residence_request_withdraw,
)
from apps.identity.tests.residence_helpers import PDF, PNG, media_root, prove_residence, stored_files, submit, upload
from apps.notifications.models import Notification
from apps.tenancy.models import InstitutionKind, Membership, Role
from apps.tenancy.scope import institution_scope
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from portal.testing import InstitutionFactory, UserFactory

__all__ = ["media_root"]  # the autouse fixture


@pytest.fixture
def dora(db):
    """A person who signed up and belongs to no institution yet."""
    return UserFactory(username="dora", first_name="Dora")


def _notifications(institution, user):
    with institution_scope(institution):
        return list(Notification.objects.filter(recipient=user).order_by("pk"))


def _requests():
    return list(ResidenceRequest.all_institutions.order_by("pk").values())


# --- Services ------------------------------------------------------------------------


@pytest.mark.django_db
def test_approval_issues_a_residence_credential_and_makes_a_citizen(dora, aurelia, alice):
    residence_request = submit(dora, aurelia)
    assert residence_request.status == ResidenceRequestStatus.SUBMITTED
    assert not Membership.objects.filter(user=dora).exists()

    with institution_scope(aurelia):
        approved = residence_request_approve(residence_request=residence_request, actor=alice)

    dora.refresh_from_db()
    assert approved.status == ResidenceRequestStatus.APPROVED and approved.decided_by == alice
    credential = approved.credential
    document = credential.document
    assert document["type"] == ["VerifiableCredential", "ResidenceCredential"]
    assert document["issuer"]["id"] == aurelia.did
    subject = document["credentialSubject"]
    assert subject["id"] == dora.did and dora.did.startswith("did:key:z")
    assert subject["address"] == {"type": "PostalAddress", "addressLocality": "Aurelia", "postalCode": "4021"}
    assert "12 Harbour Road" not in str(document)  # the street stays with the municipality
    assert subject["municipality"] == {"id": aurelia.did, "name": aurelia.name}
    assert "validUntil" in document
    assert verify_credential(document)["verified"]

    assert Membership.objects.filter(user=dora, institution=aurelia, role=Role.CITIZEN).exists()
    [notification] = _notifications(aurelia, dora)
    assert notification.url == reverse("wallet:home")
    approve_event = AuditEvent.objects.get(action="identity.residence.approve")
    assert approve_event.actor_label == "alice" and approve_event.institution == aurelia
    grant_event = AuditEvent.objects.get(action="tenancy.membership.grant", target_id__isnull=False)
    assert grant_event.actor_label == "system"
    assert AuditEvent.objects.filter(action="identity.credential.issue", actor_label="alice").count() == 1
    assert AuditEvent.objects.filter(action="identity.residence.submit", actor_label="dora").count() == 1
    assert resident_of(user=dora, institution=aurelia)


@pytest.mark.django_db
def test_an_existing_citizen_is_not_granted_the_role_twice(bob, aurelia, alice):
    prove_residence(bob, aurelia, alice)
    assert Membership.objects.filter(user=bob, institution=aurelia, role=Role.CITIZEN).count() == 1
    assert resident_of(user=bob, institution=aurelia)


@pytest.mark.django_db
def test_eligibility_follows_the_credential_status_not_a_flag(dora, aurelia, alice, borealis):
    credential = prove_residence(dora, aurelia, alice).credential
    assert resident_of(user=dora, institution=aurelia)
    assert not resident_of(user=dora, institution=borealis)

    with institution_scope(aurelia):
        credential_suspend(credential=credential, actor=alice, reason="checking")
    assert not resident_of(user=dora, institution=aurelia)

    with institution_scope(aurelia):
        from apps.identity.credentials.services import credential_reinstate

        credential_reinstate(credential=Credential.objects.get(pk=credential.pk), actor=alice)
    assert resident_of(user=dora, institution=aurelia)

    with institution_scope(aurelia):
        credential_revoke(credential=Credential.objects.get(pk=credential.pk), actor=alice, reason="moved away")
    # The request row still says approved; eligibility does not read it.
    assert ResidenceRequest.all_institutions.get(applicant=dora).status == ResidenceRequestStatus.APPROVED
    assert not resident_of(user=dora, institution=aurelia)


@pytest.mark.django_db
def test_eligibility_refuses_a_tampered_or_foreign_credential(dora, aurelia, alice, charlie, borealis):
    credential = prove_residence(dora, aurelia, alice).credential
    # A stored document edited in the database (say, the postcode) no longer verifies.
    document = credential.document
    document["credentialSubject"]["address"]["postalCode"] = "9999"
    Credential.all_institutions.filter(pk=credential.pk).update(document=document)
    assert not resident_of(user=dora, institution=aurelia)
    # Another municipality's residence credential does not make her a resident of Aurelia.
    prove_residence(dora, borealis, charlie)
    assert resident_of(user=dora, institution=borealis)
    assert not resident_of(user=dora, institution=aurelia)


@pytest.mark.django_db
def test_an_expired_credential_is_not_residence(dora, aurelia, alice):
    from datetime import timedelta

    from django.utils import timezone

    credential = prove_residence(dora, aurelia, alice).credential
    with pytest.MonkeyPatch.context() as patch:
        later = timezone.now() + timedelta(days=400)
        patch.setattr("apps.identity.credentials.verify.timezone.now", lambda: later)
        assert not resident_of(user=dora, institution=aurelia)
    assert credential.valid_until is not None


@pytest.mark.django_db
def test_rejection_needs_a_reason_and_notifies_it(dora, aurelia, alice):
    residence_request = submit(dora, aurelia)
    before, events = _requests(), AuditEvent.objects.count()
    with institution_scope(aurelia), pytest.raises(ValidationFailed) as error:
        residence_request_reject(residence_request=residence_request, actor=alice, reason="  ")
    assert "reason" in error.value.extra["errors"]
    assert _requests() == before and AuditEvent.objects.count() == events

    with institution_scope(aurelia):
        rejected = residence_request_reject(
            residence_request=residence_request, actor=alice, reason="The lease is not in your name."
        )
    assert rejected.status == ResidenceRequestStatus.REJECTED and rejected.credential is None
    [notification] = _notifications(aurelia, dora)
    assert notification.body == "The lease is not in your name."
    assert not Membership.objects.filter(user=dora).exists()
    assert AuditEvent.objects.filter(action="identity.residence.reject", actor_label="alice").count() == 1
    with institution_scope(aurelia), pytest.raises(InvalidTransition):
        residence_request_approve(residence_request=rejected, actor=alice)
    assert not Credential.all_institutions.exists()
    assert not resident_of(user=dora, institution=aurelia)


@pytest.mark.django_db
def test_only_civil_servants_of_the_municipality_decide(dora, aurelia, bob, charlie, ada):
    residence_request = submit(dora, aurelia)
    before, events = _requests(), AuditEvent.objects.count()
    for actor in (bob, charlie, ada):  # a citizen, another city's civil servant, an administrator
        with institution_scope(aurelia), pytest.raises(PermissionDenied):
            residence_request_approve(residence_request=residence_request, actor=actor)
        with institution_scope(aurelia), pytest.raises(PermissionDenied):
            residence_request_reject(residence_request=residence_request, actor=actor, reason="no")
    assert _requests() == before and AuditEvent.objects.count() == events
    assert not Credential.all_institutions.exists()


@pytest.mark.django_db
def test_only_municipalities_and_one_open_request_each(dora, aurelia):
    ministry = InstitutionFactory(name="Ministry of Roads", slug="roads", kind=InstitutionKind.MINISTRY)
    with pytest.raises(ValidationFailed) as error:
        submit(dora, ministry)
    assert "municipality" in error.value.extra["errors"]
    with pytest.raises(ValidationFailed) as error:
        submit(dora, aurelia, postcode=" ", city="")
    assert set(error.value.extra["errors"]) == {"postcode", "city"}
    submit(dora, aurelia)
    with pytest.raises(Conflict):
        submit(dora, aurelia)
    assert ResidenceRequest.all_institutions.count() == 1


@pytest.mark.django_db
def test_the_applicant_withdraws_only_their_own_waiting_request(dora, bob, aurelia, alice):
    residence_request = submit(dora, aurelia)
    with pytest.raises(PermissionDenied):
        residence_request_withdraw(residence_request=residence_request, actor=bob)
    withdrawn = residence_request_withdraw(residence_request=residence_request, actor=dora)
    assert withdrawn.status == ResidenceRequestStatus.WITHDRAWN
    with institution_scope(aurelia), pytest.raises(InvalidTransition):
        residence_request_approve(residence_request=withdrawn, actor=alice)
    submit(dora, aurelia)  # a new request may follow


# --- Uploads -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_document_is_stored_under_a_random_name(dora, aurelia, media_root):
    residence_request = submit(dora, aurelia, document=upload(PNG, name="../../my lease.png"))
    [path] = stored_files(media_root)
    assert path.parent == media_root / "residence" and "lease" not in path.name and path.suffix == ".png"
    assert path.read_bytes() == PNG
    assert residence_request.document_content_type == "image/png"
    assert residence_request.document_path == f"residence/{path.name}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content",
    [
        b"<html><script>alert(1)</script></html>",  # claims to be a PNG
        b"GIF89a" + b"\x00" * 32,
        b"",
    ],
)
def test_a_document_that_is_not_pdf_png_or_jpeg_is_refused(dora, aurelia, media_root, content):
    with pytest.raises(ValidationFailed) as error:
        submit(dora, aurelia, document=upload(content, name="lease.png", content_type="image/png"))
    assert "document" in error.value.extra["errors"]
    assert not ResidenceRequest.all_institutions.exists() and stored_files(media_root) == []
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_document_over_5_mb_is_refused(dora, aurelia, media_root):
    big = PDF + b"0" * (uploads.DOCUMENT_MAX_BYTES - len(PDF) + 1)
    with pytest.raises(ValidationFailed):
        submit(dora, aurelia, document=upload(big, name="scan.pdf", content_type="application/pdf"))
    assert not ResidenceRequest.all_institutions.exists() and stored_files(media_root) == []
    exactly = PDF + b"0" * (uploads.DOCUMENT_MAX_BYTES - len(PDF))
    submit(dora, aurelia, document=upload(exactly, name="scan.pdf", content_type="application/pdf"))
    assert len(stored_files(media_root)) == 1


@pytest.mark.django_db
def test_a_failed_save_leaves_no_file(dora, aurelia, media_root, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("apps.identity.residence.services.audit_append", broken)
    with pytest.raises(RuntimeError):
        submit(dora, aurelia, document=upload())
    assert stored_files(media_root) == []


# --- Web pages -----------------------------------------------------------------------


def _apply_data(aurelia, **overrides):
    return {
        "municipality": aurelia.pk,
        "address_line1": "12 Harbour Road",
        "address_line2": "",
        "postcode": "4021",
        "city": "Aurelia",
        **overrides,
    }


@pytest.mark.django_db
def test_apply_approve_and_find_the_credential_in_the_wallet(client, dora, aurelia, alice, media_root):
    client.force_login(dora)
    page = client.get(reverse("residence:apply"))
    assert page.status_code == 200 and aurelia.name in page.content.decode()
    response = client.post(reverse("residence:apply"), _apply_data(aurelia, document=upload()))
    assert response.status_code == 302 and response["Location"] == reverse("residence:mine")
    residence_request = ResidenceRequest.all_institutions.get(applicant=dora)
    assert "Submitted" in client.get(reverse("residence:mine")).content.decode()

    client.force_login(alice)
    queue = client.get("/i/aurelia/residence/")
    assert queue.status_code == 200 and "Dora" in queue.content.decode()
    detail_url = f"/i/aurelia/residence/{residence_request.pk}/"
    detail = client.get(detail_url)
    assert detail.status_code == 200 and "12 Harbour Road" in detail.content.decode()
    document = client.get(detail_url + "document/")
    assert document.status_code == 200 and document["Content-Type"] == "image/png"
    assert b"".join(document.streaming_content) == PNG
    assert "sandbox" in document["Content-Security-Policy"] and "no-store" in document["Cache-Control"]
    response = client.post(detail_url + "approve/")
    assert response.status_code == 302

    client.force_login(dora)
    wallet = client.get(reverse("wallet:home")).content.decode()
    assert "ResidenceCredential" in wallet and "Valid" in wallet and aurelia.name in wallet
    assert resident_of(user=dora, institution=aurelia)
    dashboard = client.get("/i/aurelia/").content.decode()
    assert "Your residence credential from City of Aurelia is valid" in dashboard


@pytest.mark.django_db
def test_a_pdf_is_downloaded_not_shown(client, dora, aurelia, alice):
    residence_request = submit(dora, aurelia, document=upload(PDF, name="scan.pdf", content_type="application/pdf"))
    client.force_login(alice)
    response = client.get(f"/i/aurelia/residence/{residence_request.pk}/document/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db
def test_bad_uploads_in_the_form_show_errors_and_store_nothing(client, dora, aurelia, media_root):
    client.force_login(dora)
    events = AuditEvent.objects.count()  # the login is audited
    wrong = client.post(reverse("residence:apply"), _apply_data(aurelia, document=upload(b"MZ\x90\x00 not a pdf")))
    assert wrong.status_code == 400 and "Upload a PDF, PNG or JPEG file." in wrong.content.decode()
    big = PDF + b"0" * uploads.DOCUMENT_MAX_BYTES
    too_large = client.post(
        reverse("residence:apply"), _apply_data(aurelia, document=upload(big, "scan.pdf", "application/pdf"))
    )
    assert too_large.status_code == 400 and "larger than 5 MB" in too_large.content.decode()
    missing = client.post(reverse("residence:apply"), _apply_data(aurelia, postcode="", municipality=""))
    assert missing.status_code == 400 and 'aria-invalid="true"' in missing.content.decode()
    assert not ResidenceRequest.all_institutions.exists() and stored_files(media_root) == []
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_rejecting_in_the_ui_needs_a_reason(client, dora, aurelia, alice):
    residence_request = submit(dora, aurelia)
    client.force_login(alice)
    url = f"/i/aurelia/residence/{residence_request.pk}/reject/"
    events = AuditEvent.objects.count()
    empty = client.post(url, {"reason": ""})
    assert empty.status_code == 400 and "error-summary" in empty.content.decode()
    assert ResidenceRequest.all_institutions.get().status == ResidenceRequestStatus.SUBMITTED
    assert AuditEvent.objects.count() == events
    assert client.post(url, {"reason": "No proof of address."}).status_code == 302
    assert ResidenceRequest.all_institutions.get().status == ResidenceRequestStatus.REJECTED
    again = client.post(f"/i/aurelia/residence/{residence_request.pk}/approve/")
    assert again.status_code == 409
    client.force_login(dora)
    assert "No proof of address." in client.get(reverse("residence:mine")).content.decode()


@pytest.mark.django_db
def test_another_city_gets_404_and_nothing_changes(client, dora, aurelia, alice, charlie):
    residence_request = submit(dora, aurelia, document=upload())
    client.force_login(charlie)
    before = _requests()
    base = f"/i/aurelia/residence/{residence_request.pk}/"
    for method, url in [
        ("get", "/i/aurelia/residence/"),
        ("get", base),
        ("get", base + "document/"),
        ("post", base + "approve/"),
        ("post", base + "reject/"),
    ]:
        assert getattr(client, method)(url, {"reason": "x"} if method == "post" else {}).status_code == 404, url
    assert _requests() == before
    assert not Credential.all_institutions.exists()


@pytest.mark.django_db
def test_a_citizen_cannot_work_the_queue(client, dora, aurelia, bob):
    residence_request = submit(dora, aurelia, document=upload())
    client.force_login(bob)
    before = _requests()
    base = f"/i/aurelia/residence/{residence_request.pk}/"
    assert client.get("/i/aurelia/residence/").status_code == 403
    assert client.get(base).status_code == 403
    assert client.get(base + "document/").status_code == 403
    assert client.post(base + "approve/").status_code == 403
    assert client.post(base + "reject/", {"reason": "x"}).status_code == 403
    assert _requests() == before and not Credential.all_institutions.exists()


@pytest.mark.django_db
def test_an_applicant_sees_and_withdraws_only_their_own_requests(client, dora, bob, aurelia):
    theirs = submit(bob, aurelia, address_line1="7 Mill Lane")
    mine = submit(dora, aurelia)
    client.force_login(dora)
    page = client.get(reverse("residence:mine")).content.decode()
    assert "12 Harbour Road" in page and "7 Mill Lane" not in page
    assert client.post(reverse("residence:withdraw", kwargs={"request_id": theirs.pk})).status_code == 404
    assert ResidenceRequest.all_institutions.get(pk=theirs.pk).status == ResidenceRequestStatus.SUBMITTED
    assert client.post(reverse("residence:withdraw", kwargs={"request_id": mine.pk})).status_code == 302
    assert ResidenceRequest.all_institutions.get(pk=mine.pk).status == ResidenceRequestStatus.WITHDRAWN


@pytest.mark.django_db
def test_the_applicant_pages_need_a_login(client):
    for url in (reverse("residence:apply"), reverse("residence:mine"), reverse("wallet:home")):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_the_queue_has_a_fixed_number_of_queries(client, aurelia, alice, django_assert_max_num_queries):
    for n in range(12):
        submit(UserFactory(username=f"applicant{n}"), aurelia, document=upload())
    client.force_login(alice)
    with django_assert_max_num_queries(12):
        response = client.get("/i/aurelia/residence/")
    assert response.status_code == 200 and response.content.decode().count("applicant") >= 12


@pytest.mark.django_db
def test_the_civil_servant_dashboard_shows_the_queue(client, dora, aurelia, alice):
    submit(dora, aurelia)
    client.force_login(alice)
    page = client.get("/i/aurelia/").content.decode()
    assert "1 request is waiting for a decision." in page


@pytest.mark.django_db
def test_a_newcomer_is_pointed_to_the_residence_application(client, dora):
    client.force_login(dora)
    page = client.get("/").content.decode()
    assert reverse("residence:apply") in page

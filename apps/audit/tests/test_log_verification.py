"""Auditors verify the whole log from the UI or the API; a worker runs it with progress."""

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent, LogVerification, VerificationStatus
from apps.audit.services import audit_tree_head_sign, log_verification_request, log_verification_run
from apps.tenancy.scope import institution_scope
from portal.errors import PermissionDenied
from portal.testing import api_as


def _url(name, **kwargs):
    return reverse(f"audit:{name}", kwargs={"institution_slug": "aurelia", **kwargs})


@pytest.mark.django_db(transaction=True)
def test_an_auditor_verifies_an_intact_log_from_the_ui(client, ada):
    audit_tree_head_sign(force=True)
    client.force_login(ada)
    response = client.post(_url("verification-start"))
    verification = LogVerification.all_institutions.get()
    assert response.status_code == 302
    assert response["Location"] == _url("verification-detail", verification_id=verification.pk)
    # Eager Celery ran it on commit: the page shows the result.
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert verification.__class__.all_institutions.get().status == VerificationStatus.PASSED
    assert b"Passed" in page.content and b"<progress" in page.content and b"hx-get" not in page.content
    actions = list(AuditEvent.objects.filter(target_type="audit.logverification").values_list("action", flat=True))
    assert actions == ["audit.verification.request", "audit.verification.start", "audit.verification.complete"]


@pytest.mark.django_db(transaction=True)
def test_a_tampered_log_fails_and_names_the_entry(aurelia, ada):
    from django.db import transaction

    from apps.audit.services import audit_append

    for n in range(3):
        with transaction.atomic():
            audit_append(institution=aurelia, actor=ada, action=f"tests.step{n}", target=aurelia)
    audit_tree_head_sign(force=True)
    assert AuditEvent.objects.filter(sequence=1).update(action="tenancy.tampered") == 1
    with institution_scope(aurelia):
        verification = log_verification_request(institution=aurelia, actor=ada)
    verification.refresh_from_db()
    assert verification.status == VerificationStatus.FAILED
    assert any("#1" in finding for finding in verification.findings)


@pytest.mark.django_db
def test_progress_polling_returns_the_fragment_while_running(client, aurelia, ada):
    with institution_scope(aurelia):
        verification = LogVerification.objects.create(
            institution=aurelia, requested_by=ada, entries_total=200, entries_checked=50
        )
    client.force_login(ada)
    response = client.get(_url("verification-detail", verification_id=verification.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'hx-trigger="every 1s"' in response.content
    assert b'value="25"' in response.content


@pytest.mark.django_db
def test_running_a_verification_twice_does_nothing_the_second_time(aurelia, ada):
    with institution_scope(aurelia):
        verification = LogVerification.objects.create(institution=aurelia, requested_by=ada)
        log_verification_run(verification_id=verification.pk)
        events = AuditEvent.objects.count()
        again = log_verification_run(verification_id=verification.pk)
    assert again.status == VerificationStatus.PASSED
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_an_unfinished_verification_is_reused(aurelia, ada):
    with institution_scope(aurelia):
        first = LogVerification.objects.create(institution=aurelia, requested_by=ada)
        assert log_verification_request(institution=aurelia, actor=ada) == first
    assert LogVerification.all_institutions.count() == 1


@pytest.mark.django_db
def test_a_civil_servant_may_not_start_one_and_nothing_is_recorded(client, aurelia, alice):
    with pytest.raises(PermissionDenied), institution_scope(aurelia):
        log_verification_request(institution=aurelia, actor=alice)
    client.force_login(alice)
    assert client.post(_url("verification-start")).status_code == 403
    assert LogVerification.all_institutions.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="audit.verification").exists()


@pytest.mark.django_db(transaction=True)
def test_the_api_queues_a_verification_and_reports_it(aurelia, ada):
    client = api_as(ada)
    response = client.post("/api/v1/institutions/aurelia/audit/verifications/")
    assert response.status_code == 202
    body = client.get(f"/api/v1/institutions/aurelia/audit/verifications/{response.json()['id']}/").json()
    assert body["status"] == "passed" and body["percent"] == 100 and body["findings"] == []

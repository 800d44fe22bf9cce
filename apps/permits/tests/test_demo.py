"""The permits demo: Aurelia's three types on their BPMN processes, and applications, permits, inspections
and violations in every state, made through the services; people then carry on from the pages."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.audit.models import AuditEvent
from apps.audit.services import audit_sequence
from apps.bpm.models import InstanceStatus, WorkItem, WorkItemStatus
from apps.feedback.models import ItemStatus, ReviewItem
from apps.permits.models import (
    ApplicationStatus,
    Inspection,
    InspectionStatus,
    Permit,
    PermitApplication,
    PermitStatus,
    PermitType,
    Violation,
    ViolationStatus,
)
from tests.test_council_demo import sign_in

# the story's tasks run after each commit, as a worker's would: no test transaction around it
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")  # the demo's attachments


def seed(settings) -> str:
    settings.DEBUG = True  # seed_demo only seeds development nodes
    out = StringIO()
    call_command("seed_demo", "--quiet-table", stdout=out)
    settings.DEBUG = False
    return out.getvalue()


def application(slug: str, username: str, status: str | None = None) -> PermitApplication:
    found = PermitApplication.all_institutions.filter(permit_type__slug=slug, applicant__username=username)
    if status:
        found = found.filter(status=status)
    return found.order_by("pk").first()


def test_the_demo_has_every_state_to_explore_and_seeding_again_changes_nothing(settings):
    output = seed(settings)

    types = {t.slug: t for t in PermitType.all_institutions.filter(institution__slug="aurelia")}
    assert {slug: t.process_key for slug, t in types.items()} == {
        "street-vending": "street_vending_permit",
        "event": "event_permit",
        "building": "building_permit",
    }
    assert types["event"].cluster.name == "Event permit review" and types["event"].council.name == "Events council"
    assert types["building"].inspection_cluster is not None and types["building"].conditions
    statuses = set(PermitApplication.all_institutions.values_list("status", flat=True))
    transient = {ApplicationStatus.UNDER_REVIEW, ApplicationStatus.APPROVED}  # a worker moves them on at once
    assert set(ApplicationStatus.values) - transient == statuses
    assert set(Permit.all_institutions.values_list("status", flat=True)) == set(PermitStatus.values)
    assert {ViolationStatus.OPEN, ViolationStatus.OVERDUE, ViolationStatus.CURED} <= set(
        Violation.all_institutions.values_list("status", flat=True)
    )
    assert "Permit issued 8" in output and "Before the council 2" in output

    # street vending: the agents' approval stood, nobody confirmed it
    vending = application("street-vending", "clara")
    assert vending.status == ApplicationStatus.ISSUED and vending.decided_by is None
    assert vending.process_instance.status == InstanceStatus.COMPLETED
    assert Permit.all_institutions.get(application=vending).status == PermitStatus.ACTIVE  # only jonas's expired
    assert application("street-vending", "dora").status == ApplicationStatus.AWAITING_CONFIRMATION  # fee unpaid
    # events: above 1,000 people the council decides, by its members' votes
    council_case = application("event", "clara", ApplicationStatus.IN_COUNCIL)
    assert council_case.data["crowd_size"] == 2500
    item = ReviewItem.all_institutions.get(subject_id=str(council_case.cluster_run_id), status=ItemStatus.OPEN)
    assert item.council.name == "Events council"
    appealed = application("event", "dora", ApplicationStatus.IN_COUNCIL)  # sam refused; dora appealed
    assert appealed.decided_by.username == "sam"
    assert ReviewItem.all_institutions.get(subject_id=str(appealed.pk), kind="appeal").status == ItemStatus.OPEN
    approved_by_council = application("event", "dora")
    assert approved_by_council.status == ApplicationStatus.ISSUED and approved_by_council.decided_by is None
    # building: the pre-check waits in the civil servants' queue; inspections and violations follow issuance
    waiting = application("building", "clara")
    assert WorkItem.all_institutions.get(instance=waiting.process_instance, element_id="precheck").status == (
        WorkItemStatus.OPEN
    )
    suspended = Permit.all_institutions.get(application=application("building", "emil"))
    assert suspended.status == PermitStatus.SUSPENDED
    assert AuditEvent.objects.filter(action="permits.permit.suspend_violations", target_id=str(suspended.pk)).exists()
    reinstated = Permit.all_institutions.get(application=application("building", "gustav"))
    assert reinstated.status == PermitStatus.ACTIVE
    assert AuditEvent.objects.filter(action="permits.permit.reinstate", target_id=str(reinstated.pk)).exists()
    for permit in (suspended, reinstated):  # the process waits on the next inspection, rated by the agents
        assert Inspection.all_institutions.filter(
            permit=permit, status=InspectionStatus.SCHEDULED, risk_run__isnull=False
        ).exists()
    assert reinstated.application.process_instance.status == InstanceStatus.RUNNING

    counts = (PermitApplication.all_institutions.count(), Permit.all_institutions.count(), AuditEvent.objects.count())
    seed(settings)
    assert (
        PermitApplication.all_institutions.count(),
        Permit.all_institutions.count(),
        AuditEvent.objects.count(),
    ) == counts


def test_people_carry_on_from_the_demo_and_the_log_verifies(settings):
    seed(settings)

    # sam, a civil servant, confirms the small event the agents approved
    waiting = application("event", "jonas", ApplicationStatus.AWAITING_CONFIRMATION)
    sam = sign_in("sam")
    url = f"/i/aurelia/permits/applications/{waiting.pk}/"
    assert "Approve and issue the permit" in sam.get(url).content.decode()
    response = sam.post(url + "decide/", {"decision": "approve", "reason": ""})
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == ApplicationStatus.ISSUED
    waiting.process_instance.refresh_from_db()
    assert waiting.process_instance.status == InstanceStatus.COMPLETED  # the process issued it and ended

    # sam completes the pre-check of clara's building application from the work queue; the agents review
    building = application("building", "clara")
    pre_check = WorkItem.all_institutions.get(instance=building.process_instance, element_id="precheck")
    queue = sam.get("/i/aurelia/bpm/queue/")
    assert queue.status_code == 200 and f"/i/aurelia/bpm/queue/{pre_check.pk}/" in queue.content.decode()
    response = sam.post(f"/i/aurelia/bpm/queue/{pre_check.pk}/", {"heritage_zone": "on", "precheck_note": "Fine."})
    assert response.status_code == 302
    building.refresh_from_db()
    assert building.status == ApplicationStatus.AWAITING_CONFIRMATION and building.agent_decision == "approve"

    # clara holds her street-vending permit: its page shows the QR code; anyone verifies it
    clara = sign_in("clara")
    permit = Permit.all_institutions.get(application=application("street-vending", "clara"))
    page = clara.get(f"/i/aurelia/permits/permits/{permit.pk}/").content.decode()
    assert "<svg" in page and "Renew this permit" in page
    # another citizen does not see it
    assert sign_in("dora").get(f"/i/aurelia/permits/permits/{permit.pk}/").status_code == 404

    audit_sequence()
    out = StringIO()
    call_command("audit", "verify", stdout=out, stderr=StringIO())
    assert "OK: the log verifies." in out.getvalue()


def test_inside_a_transaction_the_demo_makes_the_types_but_no_applications(settings, django_db_blocker):
    from django.db import transaction

    settings.DEBUG = True
    out = StringIO()
    with transaction.atomic():
        call_command("seed_demo", "--quiet-table", stdout=out)
    assert "applications skipped" in out.getvalue()
    assert PermitType.all_institutions.count() == 3
    assert not PermitApplication.all_institutions.exists()

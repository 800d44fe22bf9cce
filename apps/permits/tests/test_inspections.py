"""Enforcement: inspections rated for risk by a real cluster, reported from the phone page or the API,
violations with deadlines, the overdue sweep suspending through the status list (as any verifier sees
it), cures reinstating, and what must not happen (wrong roles, bad reports, other institutions)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.agents.clusters import redteam
from apps.agents.clusters import services as cluster_services
from apps.audit.models import AuditEvent
from apps.identity.credentials.verify import verify_credential
from apps.notifications.models import Notification
from apps.permits import inspections, services
from apps.permits.models import (
    Inspection,
    InspectionKind,
    InspectionOutcome,
    InspectionStatus,
    Permit,
    PermitStatus,
    Risk,
    Violation,
    ViolationStatus,
)
from apps.permits.tests.conftest import ANSWERS, make_type
from apps.tenancy.scope import institution_scope
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from portal.testing import api_as

pytestmark = pytest.mark.django_db

CONDITIONS = ["Fire exits are clear", "Noise stays under 70 dB after 22:00"]
RISK_TASK = "permits.inspection_risk"
API = "/api/v1/institutions/aurelia/permits/"
PAGES = "/i/aurelia/permits/"


def make_risk_cluster(aurelia, ada, *, decisions=("high",), name="Inspection risk"):
    agents = [
        redteam.make_agent(aurelia, ada, f"{name} {i}", decision=d, capabilities=[RISK_TASK])
        for i, d in enumerate(decisions)
    ]
    with institution_scope(aurelia):
        return cluster_services.cluster_create(
            institution=aurelia,
            actor=ada,
            name=name,
            task_type=RISK_TASK,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["high", "medium", "low", "unsure"],
            flagging_policy={"max_disagreement": 0.2} if len(set(decisions)) > 1 else {},
        )


def issue_permit(aurelia, ada, alice, bob, capture, *, cluster=None, slug="market-stall", cure_days=14) -> Permit:
    permit_type = make_type(
        aurelia,
        ada,
        slug=slug,
        attachments=(),
        conditions=CONDITIONS,
        inspection_cluster=cluster,
        cure_days=cure_days,
        process_key="",
    )
    with institution_scope(aurelia), capture(execute=True):
        application = services.application_create(permit_type=permit_type, applicant=bob, data=ANSWERS)
        services.application_decide(application=application, actor=alice, approve=True)
    return Permit.all_institutions.get(application=application)


@pytest.fixture
def permit(aurelia, ada, alice, bob, django_capture_on_commit_callbacks):
    return issue_permit(aurelia, ada, alice, bob, django_capture_on_commit_callbacks)


def _codes(permit: Permit) -> set[str]:
    permit.credential.refresh_from_db()
    return {e["code"] for e in verify_credential(permit.credential.document)["errors"]}


def _schedule(permit, actor, capture, kind=InspectionKind.ROUTINE) -> Inspection:
    with institution_scope(permit.institution), capture(execute=True):
        inspection = inspections.inspection_schedule(permit=permit, kind=kind, actor=actor)
    inspection.refresh_from_db()
    return inspection


def _findings(*met, notes=None):
    notes = notes or {}
    return [
        {"condition": c, "met": m, "note": notes.get(i, "" if m else "Blocked")}
        for i, (c, m) in enumerate(zip(CONDITIONS, met, strict=False))
    ]


def _report(inspection, actor, capture, *met, notes=None):
    with institution_scope(inspection.institution), capture(execute=True):
        return inspections.inspection_report(inspection=inspection, actor=actor, findings=_findings(*met, notes=notes))


def _state():
    return (
        list(Inspection.all_institutions.values_list("pk", "status", "outcome", "findings")),
        list(Violation.all_institutions.values_list("pk", "status")),
        # refused API calls are themselves logged (identity.api_forbidden and the like): not a change
        AuditEvent.objects.exclude(action__startswith="identity.").count(),
    )


# --- scheduling -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("decisions", "risk", "days"), [(("high", "high"), "high", 7), (("low", "low"), "low", 90)])
def test_the_agents_rate_the_risk_and_the_inspection_is_due_by_it(
    aurelia, ada, alice, bob, decisions, risk, days, django_capture_on_commit_callbacks
):
    cluster = make_risk_cluster(aurelia, ada, decisions=decisions)
    permit = issue_permit(aurelia, ada, alice, bob, django_capture_on_commit_callbacks, cluster=cluster)
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True) as callbacks:
        inspection = inspections.inspection_schedule(permit=permit, kind=InspectionKind.ROUTINE, actor=alice)
        assert inspection.status == InspectionStatus.ASSESSING and inspection.risk_run_id
    assert callbacks  # the run's stages ran after commit, eagerly
    inspection.refresh_from_db()
    assert inspection.status == InspectionStatus.SCHEDULED
    assert inspection.risk == risk
    assert inspection.due_on == timezone.localdate() + dt.timedelta(days=days)
    assert str(Risk(risk).label) in inspection.risk_reason
    assert inspection.risk_run.record["permit"]["conditions"] == CONDITIONS
    assert inspection.risk_run.record["crowd_size"] == 120
    assert AuditEvent.objects.filter(action="permits.inspection.risk_rated", target_id=str(inspection.pk)).exists()


def test_a_flagged_rating_is_high_the_cautious_choice(aurelia, ada, alice, bob, django_capture_on_commit_callbacks):
    cluster = make_risk_cluster(aurelia, ada, decisions=("low", "high"))
    permit = issue_permit(aurelia, ada, alice, bob, django_capture_on_commit_callbacks, cluster=cluster)
    inspection = _schedule(permit, alice, django_capture_on_commit_callbacks)
    assert inspection.status == InspectionStatus.SCHEDULED
    assert inspection.risk == Risk.HIGH
    assert "cautious" in inspection.risk_reason
    assert inspection.due_on == timezone.localdate() + dt.timedelta(days=inspections.RISK_DAYS[Risk.HIGH])


def test_an_answer_that_is_no_risk_level_is_high(aurelia, ada, alice, bob, django_capture_on_commit_callbacks):
    cluster = make_risk_cluster(aurelia, ada, decisions=("unsure",))
    permit = issue_permit(aurelia, ada, alice, bob, django_capture_on_commit_callbacks, cluster=cluster)
    inspection = _schedule(permit, None, django_capture_on_commit_callbacks)
    assert inspection.risk == Risk.HIGH and "unsure" in inspection.risk_reason


def test_without_agents_medium_at_once_and_a_follow_up_within_a_week(permit, alice, django_capture_on_commit_callbacks):
    inspection = _schedule(permit, alice, django_capture_on_commit_callbacks)
    assert (inspection.status, inspection.risk) == (InspectionStatus.SCHEDULED, Risk.MEDIUM)
    assert inspection.due_on == timezone.localdate() + dt.timedelta(days=30)
    follow_up = _schedule(permit, alice, django_capture_on_commit_callbacks, kind=InspectionKind.FOLLOW_UP)
    assert follow_up.due_on == timezone.localdate() + dt.timedelta(days=inspections.FOLLOW_UP_DAYS)
    with institution_scope(permit.institution), pytest.raises(Conflict):
        inspections.inspection_schedule(permit=permit, kind=InspectionKind.ROUTINE, actor=alice)


def test_who_schedules_and_what(permit, bob, ada, charlie, django_capture_on_commit_callbacks):
    before = _state()
    with institution_scope(permit.institution):
        for actor in (bob, charlie):
            with pytest.raises(PermissionDenied):
                inspections.inspection_schedule(permit=permit, kind=InspectionKind.ROUTINE, actor=actor)
        with pytest.raises(ValidationFailed):
            inspections.inspection_schedule(permit=permit, kind="surprise", actor=ada)
        services.permit_revoke(permit=permit, actor=ada, reason="Fraud.")
    before = (before[0], before[1], AuditEvent.objects.exclude(action__startswith="identity.").count())
    with institution_scope(permit.institution), pytest.raises(InvalidTransition):
        inspections.inspection_schedule(permit=permit, kind=InspectionKind.FOLLOW_UP, actor=ada)
    assert _state() == before


def test_the_due_sweep_schedules_routine_inspections_once(permit, plain_type, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert inspections.inspections_due_sweep() == 1
        assert inspections.inspections_due_sweep() == 0
    inspection = Inspection.all_institutions.get()
    assert (inspection.kind, inspection.status, inspection.permit_id) == ("routine", "scheduled", permit.pk)


# --- reporting ----------------------------------------------------------------------------------------


def test_a_report_with_violations_sets_deadlines_and_tells_the_holder(
    permit, alice, bob, django_capture_on_commit_callbacks
):
    inspection = _schedule(permit, alice, django_capture_on_commit_callbacks)
    inspection = _report(
        inspection, alice, django_capture_on_commit_callbacks, True, False, notes={1: "92 dB at 23:10"}
    )
    assert inspection.status == InspectionStatus.COMPLETED
    assert inspection.outcome == InspectionOutcome.VIOLATIONS
    assert inspection.reported_by == alice and inspection.inspector == alice
    violation = Violation.all_institutions.get()
    assert violation.condition == CONDITIONS[1]
    assert violation.description == "92 dB at 23:10"
    assert violation.cure_by == timezone.localdate() + dt.timedelta(days=14)
    assert Notification.all_institutions.filter(recipient=bob, title__contains="found violations").exists()


@pytest.mark.parametrize(
    ("findings", "field"),
    [
        ([{"condition": CONDITIONS[0], "met": True, "note": ""}], "condition_1"),
        ([{"condition": CONDITIONS[0], "met": True}, {"condition": CONDITIONS[1], "met": False, "note": ""}], "note_1"),
        (
            [
                {"condition": CONDITIONS[0], "met": True},
                {"condition": CONDITIONS[1], "met": True},
                {"condition": "Sells alcohol", "met": True},
            ],
            "findings",
        ),
        ([{"condition": CONDITIONS[0], "met": "yes"}, {"condition": CONDITIONS[1], "met": True}], "condition_0"),
        ("all fine", "findings"),
    ],
)
def test_a_bad_report_is_refused_and_changes_nothing(
    permit, alice, findings, field, django_capture_on_commit_callbacks
):
    inspection = _schedule(permit, alice, django_capture_on_commit_callbacks)
    before = _state()
    with institution_scope(permit.institution), pytest.raises(ValidationFailed) as error:
        inspections.inspection_report(inspection=inspection, actor=alice, findings=findings)
    assert field in error.value.extra["errors"]
    assert _state() == before


def test_only_civil_servants_report(permit, alice, bob, ada, django_capture_on_commit_callbacks):
    inspection = _schedule(permit, alice, django_capture_on_commit_callbacks)
    before = _state()
    with institution_scope(permit.institution):
        for actor in (bob, ada):
            with pytest.raises(PermissionDenied):
                inspections.inspection_report(inspection=inspection, actor=actor, findings=_findings(True, True))
    assert _state() == before


def test_assign_and_cancel(permit, alice, ada, bob, django_capture_on_commit_callbacks):
    inspection = _schedule(permit, ada, django_capture_on_commit_callbacks)
    with institution_scope(permit.institution):
        with pytest.raises(PermissionDenied):
            inspections.inspection_assign(inspection=inspection, actor=bob, inspector=bob)
        with pytest.raises(ValidationFailed):
            inspections.inspection_assign(inspection=inspection, actor=ada, inspector=bob)
        inspections.inspection_assign(inspection=inspection, actor=ada, inspector=alice)
        assert Notification.all_institutions.filter(recipient=alice, title__contains="assigned").exists()
        with pytest.raises(ValidationFailed):
            inspections.inspection_cancel(inspection=inspection, actor=alice, reason="")
        inspections.inspection_cancel(inspection=inspection, actor=alice, reason="Stall closed for the season.")
    inspection.refresh_from_db()
    assert (inspection.status, inspection.inspector) == (InspectionStatus.CANCELLED, alice)
    with institution_scope(permit.institution), pytest.raises(InvalidTransition):
        inspections.inspection_report(inspection=inspection, actor=alice, findings=_findings(True, True))


# --- violations, suspension through the status list --------------------------------------------------


def _violation(permit, alice, capture) -> Violation:
    inspection = _schedule(permit, alice, capture)
    _report(inspection, alice, capture, False, True)
    return Violation.all_institutions.get(permit=permit, status=ViolationStatus.OPEN)


def _overdue_sweep(violation, capture):
    with capture(execute=True):
        return inspections.violations_overdue_sweep(today=violation.cure_by + dt.timedelta(days=1))


def test_an_overdue_violation_suspends_the_permit_as_verifiers_see_and_its_cure_reinstates(
    permit, alice, bob, django_capture_on_commit_callbacks
):
    violation = _violation(permit, alice, django_capture_on_commit_callbacks)
    assert inspections.violations_overdue_sweep(today=violation.cure_by) == 0  # the deadline day still counts
    assert "suspended" not in _codes(permit)
    assert _overdue_sweep(violation, django_capture_on_commit_callbacks) == 1
    assert _overdue_sweep(violation, django_capture_on_commit_callbacks) == 0  # idempotent
    violation.refresh_from_db()
    permit.refresh_from_db()
    assert violation.status == ViolationStatus.OVERDUE
    assert permit.status == PermitStatus.SUSPENDED and CONDITIONS[0] in permit.status_reason
    assert "suspended" in _codes(permit)
    assert AuditEvent.objects.filter(action=inspections.SUSPEND_FOR_VIOLATIONS, target_id=str(permit.pk)).exists()
    assert Notification.all_institutions.filter(recipient=bob, title__contains="suspended").exists()

    # a follow-up of a suspended permit may be scheduled; finding the condition met cures and reinstates
    follow_up = _schedule(permit, alice, django_capture_on_commit_callbacks, kind=InspectionKind.FOLLOW_UP)
    _report(follow_up, alice, django_capture_on_commit_callbacks, True, True)
    violation.refresh_from_db()
    permit.refresh_from_db()
    assert violation.status == ViolationStatus.CURED and violation.resolved_by == alice
    assert permit.status == PermitStatus.ACTIVE
    assert verify_credential(permit.credential.document)["verified"]


def test_a_confirmed_cure_or_waiver_of_the_last_overdue_violation_reinstates(
    permit, alice, ada, django_capture_on_commit_callbacks
):
    inspection = _schedule(permit, alice, django_capture_on_commit_callbacks)
    _report(inspection, alice, django_capture_on_commit_callbacks, False, False)
    first, second = Violation.all_institutions.order_by("pk")
    _overdue_sweep(first, django_capture_on_commit_callbacks)
    with institution_scope(permit.institution), django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(PermissionDenied):
            inspections.violation_waive(violation=first, actor=alice, reason="Minor.")
        with pytest.raises(ValidationFailed):
            inspections.violation_cure(violation=first, actor=alice, resolution="")
        inspections.violation_cure(violation=first, actor=alice, resolution="Exits cleared, photo on file.")
        permit.refresh_from_db()
        assert permit.status == PermitStatus.SUSPENDED  # the second is still overdue
        inspections.violation_waive(violation=second, actor=ada, reason="Festival night, noise allowed.")
    permit.refresh_from_db()
    assert permit.status == PermitStatus.ACTIVE
    assert "suspended" not in _codes(permit)


def test_an_administrator_s_own_suspension_is_not_lifted_by_a_cure(
    permit, alice, ada, django_capture_on_commit_callbacks
):
    violation = _violation(permit, alice, django_capture_on_commit_callbacks)
    with institution_scope(permit.institution), django_capture_on_commit_callbacks(execute=True):
        services.permit_suspend(permit=permit, actor=ada, reason="Fraud under investigation.")
    _overdue_sweep(violation, django_capture_on_commit_callbacks)
    violation.refresh_from_db()
    assert violation.status == ViolationStatus.OVERDUE
    with institution_scope(permit.institution), django_capture_on_commit_callbacks(execute=True):
        inspections.violation_cure(violation=violation, actor=alice, resolution="Exits cleared.")
    permit.refresh_from_db()
    assert permit.status == PermitStatus.SUSPENDED and permit.status_reason == "Fraud under investigation."
    assert "suspended" in _codes(permit)


def test_an_administrator_suspending_after_the_node_keeps_the_permit_suspended(
    permit, alice, ada, django_capture_on_commit_callbacks
):
    violation = _violation(permit, alice, django_capture_on_commit_callbacks)
    _overdue_sweep(violation, django_capture_on_commit_callbacks)
    with institution_scope(permit.institution), django_capture_on_commit_callbacks(execute=True):
        services.permit_reinstate(permit=permit, actor=ada, reason="Hearing held.")
        services.permit_suspend(permit=permit, actor=ada, reason="Another matter.")
        inspections.violation_cure(violation=violation, actor=alice, resolution="Exits cleared.")
    permit.refresh_from_db()
    assert permit.status == PermitStatus.SUSPENDED


def test_the_risk_run_listener_follows_only_inspections(aurelia, ada, alice, bob, django_capture_on_commit_callbacks):
    from apps.permits import tasks

    cluster = make_risk_cluster(aurelia, ada, decisions=("low",))
    permit = issue_permit(aurelia, ada, alice, bob, django_capture_on_commit_callbacks, cluster=cluster)
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=False):
        inspection = inspections.inspection_schedule(permit=permit, kind=InspectionKind.ROUTINE, actor=alice)
    # the run never ran (callbacks dropped): following it changes nothing
    with institution_scope(aurelia):
        inspections.inspection_follow_risk_run(run=inspection.risk_run)
    inspection.refresh_from_db()
    assert inspection.status == InspectionStatus.ASSESSING
    tasks.run_changed_listener(run_id=10**9, institution_id=aurelia.pk, event="finished")  # no such run: nothing


# --- pages ---------------------------------------------------------------------------------------------


def test_the_report_page_has_a_fieldset_per_condition_and_a_bad_report_is_400_keeping_what_was_entered(
    client, permit, alice, bob, django_capture_on_commit_callbacks
):
    inspection = _schedule(permit, alice, django_capture_on_commit_callbacks)
    url = f"{PAGES}inspections/{inspection.pk}/report/"
    client.force_login(alice)
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('<fieldset class="condition') == len(CONDITIONS) and html.count("Condition 2:") == 1
    assert 'type="radio" name="condition_0" value="met"' in html and 'name="note_1"' in html
    assert CONDITIONS[1] in html

    before = _state()
    response = client.post(url, {"condition_0": "met", "condition_1": "not_met", "note_1": "", "notes": "Windy day"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error-summary"' in html and 'href="#id_note_1"' in html
    assert "Say what is wrong" in html
    assert 'value="met" id="id_condition_0_0" checked' in html and "Windy day" in html
    assert _state() == before

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"condition_0": "met", "condition_1": "not_met", "note_1": "Too loud"})
    assert response.status_code == 302
    assert Violation.all_institutions.get().description == "Too loud"

    client.force_login(bob)
    assert client.get(url).status_code == 403
    permit_page = client.get(f"{PAGES}permits/{permit.pk}/")
    assert CONDITIONS[1].encode() in permit_page.content and b"Cure by" in permit_page.content
    assert b"Confirm the cure" not in permit_page.content and b"Schedule an inspection" not in permit_page.content


def test_staff_schedule_cure_and_list_from_the_pages(client, permit, alice, ada, django_capture_on_commit_callbacks):
    client.force_login(alice)
    page = client.get(f"{PAGES}permits/{permit.pk}/")
    assert b"Schedule an inspection" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{PAGES}permits/{permit.pk}/inspections/", {"kind": "routine"})
    inspection = Inspection.all_institutions.get()
    assert response.status_code == 302 and response.url == f"{PAGES}inspections/{inspection.pk}/"
    assert client.post(f"{PAGES}permits/{permit.pk}/inspections/", {"kind": "routine"}).status_code == 400  # twice
    detail = client.get(response.url)
    assert detail.status_code == 200 and b"File the report" in detail.content
    assert client.post(f"{PAGES}inspections/{inspection.pk}/assign/", {"myself": "1"}).status_code == 302
    listing = client.get(f"{PAGES}inspections/?show=mine")
    assert listing.status_code == 200 and b"Bob" in listing.content
    _report(Inspection.all_institutions.get(), alice, django_capture_on_commit_callbacks, False, True)
    violation = Violation.all_institutions.get()

    before = _state()
    response = client.post(f"{PAGES}violations/{violation.pk}/cure/", {"reason": ""})
    assert response.status_code == 400 and b"Say how the violation was cured" in response.content
    assert _state() == before
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{PAGES}violations/{violation.pk}/cure/", {"reason": "Exits cleared."})
    assert response.status_code == 302
    violation.refresh_from_db()
    assert violation.status == ViolationStatus.CURED


def test_another_institution_gets_404_on_pages_and_api(
    client, permit, alice, charlie, django_capture_on_commit_callbacks
):
    inspection = _schedule(permit, alice, django_capture_on_commit_callbacks)
    api = api_as(charlie)
    before = _state()
    client.force_login(charlie)
    assert client.get(f"{PAGES}inspections/{inspection.pk}/report/").status_code == 404
    assert client.post(f"{PAGES}inspections/{inspection.pk}/report/", {"condition_0": "met"}).status_code == 404
    borealis = "/i/borealis/permits/"
    assert client.get(f"{borealis}inspections/{inspection.pk}/").status_code == 404
    assert api.get(f"{API}inspections/{inspection.pk}/").status_code == 404
    assert api.post(f"{API}inspections/{inspection.pk}/cancel/", {"reason": "x"}, format="json").status_code == 404
    assert api.get(f"/api/v1/institutions/borealis/permits/inspections/{inspection.pk}/").status_code == 404
    assert _state() == before


# --- API ---------------------------------------------------------------------------------------------


def test_the_whole_enforcement_path_through_the_api(
    permit, alice, ada, bob, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    staff, admin, holder = api_as(alice), api_as(ada), api_as(bob)
    assert holder.post(f"{API}permits/{permit.pk}/inspections/", {"kind": "routine"}, format="json").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(f"{API}permits/{permit.pk}/inspections/", {"kind": "routine"}, format="json")
    assert response.status_code == 201, response.json()
    inspection = response.json()
    assert (inspection["status"], inspection["risk"]) == ("scheduled", "medium")
    url = f"{API}inspections/{inspection['id']}/"
    assert staff.get(url).json()["due_on"] == (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    assert admin.post(f"{url}assign/", {"inspector": alice.pk}, format="json").json()["inspector"] == alice.pk
    assert admin.post(f"{url}assign/", {"inspector": bob.pk}, format="json").status_code == 400

    before = _state()
    bad = staff.post(f"{url}report/", {"findings": [{"condition": CONDITIONS[0], "met": True}]}, format="json")
    assert bad.status_code == 400 and bad["Content-Type"].startswith("application/problem+json")
    assert "condition_1" in json_of(bad)["errors"]
    assert holder.post(f"{url}report/", {"findings": _findings(True, True)}, format="json").status_code == 403
    assert _state() == before

    with django_capture_on_commit_callbacks(execute=True):
        report = staff.post(
            f"{url}report/", {"findings": _findings(False, True), "notes": "Visit at 10:00"}, format="json"
        )
    assert report.status_code == 200, report.json()
    assert report.json()["outcome"] == "violations" and report.json()["findings"][0]["met"] is False

    violations = holder.get(f"{API}permits/{permit.pk}/violations/").json()["results"]
    assert [v["status"] for v in violations] == ["open"]
    violation_id = violations[0]["id"]
    assert holder.get(f"{API}violations/").status_code == 403
    with django_assert_max_num_queries(12):
        assert len(staff.get(f"{API}inspections/?mine=1").json()["results"]) == 1
    assert staff.get(f"{API}inspections/?status=nonsense").status_code == 400
    assert staff.post(f"{API}violations/{violation_id}/waive/", {"reason": "x"}, format="json").status_code == 403
    waived = admin.post(f"{API}violations/{violation_id}/waive/", {"reason": "Minor, first time."}, format="json")
    assert waived.status_code == 200 and waived.json()["status"] == "waived"
    again = staff.post(f"{API}violations/{violation_id}/cure/", {"reason": "Done."}, format="json")
    assert again.status_code == 409


def json_of(response) -> dict:
    import json

    return json.loads(response.content)


def test_cancelling_through_the_api_needs_a_reason(permit, alice, django_capture_on_commit_callbacks):
    inspection = _schedule(permit, alice, django_capture_on_commit_callbacks)
    staff = api_as(alice)
    url = f"{API}inspections/{inspection.pk}/cancel/"
    assert staff.post(url, {"reason": ""}, format="json").status_code == 400
    response = staff.post(url, {"reason": "The stall moved away."}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert staff.get(f"{API}permits/{permit.pk}/inspections/").json()["results"][0]["status"] == "cancelled"

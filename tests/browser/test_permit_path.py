"""The three demo permit types on their BPMN processes (fixtures/permits/), end to end in a real browser:
a citizen applies through the generated form and through the REST API with a token; the agents review;
the process issues at once (street vending), a council or a civil servant decides (event), or a civil
servant pre-checks in the work queue and confirms (building); the permit is a credential with a QR code
that a verifier checks; the building permit is inspected on a phone, a violation left uncured suspends
it (the status list says so to any verifier), its cure reinstates it, and it expires. After each path
the audit log verifies. axe-core runs on every page visited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import reverse

from apps.agents.clusters import redteam
from apps.agents.clusters import services as cluster_services
from apps.audit.models import AuditEvent
from apps.bpm import services as bpm_services
from apps.bpm.models import InstanceStatus, WorkItem
from apps.identity.credentials.verify import verify_credential
from apps.permits import inspections, services
from apps.permits.models import (
    ApplicationStatus,
    Inspection,
    InspectionOutcome,
    InspectionStatus,
    Permit,
    PermitApplication,
    PermitStatus,
    Violation,
    ViolationStatus,
)
from apps.permits.tests.test_process import element_path
from apps.tenancy.scope import institution_scope
from portal.testing import UserFactory, current_totp_code, enrol_totp, member
from tests.browser.conftest import axe_violations, chromium_missing_reason, format_violations, log_in

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)

from playwright.sync_api import expect  # only once Chromium is known to be there

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROCESSES = Path(settings.BASE_DIR) / "fixtures" / "permits"
API = "/api/v1/institutions/aurelia/permits/"
PAGES = "/i/aurelia/permits/"
VALID = "This credential is genuine and valid"
UNTRUSTED = "This credential cannot be trusted"


# --- setting up the institution's processes, agents and types ---------------------------------------


@pytest.fixture(autouse=True)
def _media_and_engine(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    yield
    redteam.forget_engine()


def upload_process(aurelia, ada, file_name: str) -> None:
    with institution_scope(aurelia):
        bpm_services.definition_upload(
            institution=aurelia, actor=ada, file_name=file_name, content=(PROCESSES / file_name).read_bytes()
        )


def approvers(aurelia, ada, name: str, fields: list[str], **policy):
    """Two agents that approve, citing these answers: unanimous, so nothing is flagged unless the
    policy says so."""
    agents = [redteam.make_agent(aurelia, ada, f"{name} approver {x}", fields=fields) for x in "AB"]
    with institution_scope(aurelia):
        return cluster_services.cluster_create(
            institution=aurelia,
            actor=ada,
            name=name,
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
            flagging_policy=policy,
        )


def permit_type(aurelia, ada, *, name, slug, fields, process_key, cluster, **extra):
    with institution_scope(aurelia):
        return services.permit_type_create(
            institution=aurelia,
            actor=ada,
            name=name,
            slug=slug,
            description=f"{name}, on the {process_key} process.",
            fields=fields,
            attachments=[],
            fee_amount="40.00",
            fee_currency="EUR",
            validity_days=extra.pop("validity_days", 365),
            cluster=cluster,
            process_key=process_key,
            **extra,
        )


def citizen(aurelia, username: str, verified_email):
    user = member(UserFactory(username=username, first_name=username.title()), aurelia, "citizen")
    verified_email(user)
    return user


# --- helpers of the browser and the API -------------------------------------------------------------


def assert_accessible(page):
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n{format_violations(violations)}"


def log_in_with_code(page, base_url: str, username: str) -> None:
    """Roles that need a second factor (administrators, council members) give the authenticator's code."""
    log_in(page, base_url, username)
    page.get_by_label("Code").fill(current_totp_code())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()


def log_out(page) -> None:
    page.context.clear_cookies()


def apply_in_browser(page, base_url: str, type_name: str, answers: dict) -> PermitApplication:
    """The citizen picks the type on the permits page and fills the form generated from its fields."""
    before = set(PermitApplication.all_institutions.values_list("pk", flat=True))
    page.goto(base_url + PAGES)
    page.get_by_role("link", name=f"Apply for: {type_name}").click()
    page.wait_for_load_state()
    for label, value in answers.items():
        field = page.get_by_label(label, exact=True)
        if value is True:
            field.check()
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(str(value))
    page.get_by_role("button", name="Send the application").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Application: {type_name}")
    (application,) = PermitApplication.all_institutions.exclude(pk__in=before)
    return application


def verify_page(page, base_url: str, permit: Permit) -> None:
    """What a verifier sees after scanning the QR code (the node's own /verify/?id=… page, here on the
    live server's address)."""
    page.goto(f"{base_url}{reverse('credential-verify')}?id={permit.credential.uuid}")
    page.wait_for_load_state()


def expect_verified(page, *, error: str = "") -> None:
    """The verification page's verdict: valid, or untrusted for this reason (the error's code)."""
    main = page.locator("main")
    if error:
        expect(page.get_by_role("alert")).to_contain_text(UNTRUSTED)
        expect(page.get_by_role("alert")).to_contain_text(f"({error})")
        expect(main).not_to_contain_text(VALID)
    else:
        expect(main).to_contain_text(VALID)
        expect(main).not_to_contain_text(UNTRUSTED)


def api_client(browser, base_url: str, user):
    """An integrator's client: plain HTTP with a knox token, no session, no cookies."""
    from knox.models import AuthToken

    _, token = AuthToken.objects.create(user=user)
    context = browser.new_context(base_url=base_url, extra_http_headers={"Authorization": f"Token {token}"})
    return context


def audit_log_verifies(*expected_actions: str) -> None:
    """Sequence what the paths appended, sign a tree head over it, and recompute the whole log."""
    from apps.audit.services import audit_sequence, audit_tree_head_sign
    from apps.audit.verify import audit_log_verify

    audit_sequence()
    head = audit_tree_head_sign()
    assert head.tree_size == AuditEvent.objects.count()  # every entry is in the signed tree
    report = audit_log_verify()
    assert report.ok, [str(f) for f in report.findings]
    assert report.entries == AuditEvent.objects.count()
    recorded = set(AuditEvent.objects.values_list("action", flat=True))
    missing = [action for action in expected_actions if action not in recorded]
    assert not missing, f"no audit event for {missing}; recorded: {sorted(recorded)}"


def as_beat(task, **kwargs):
    """Run a beat sweep as the worker would: in a thread of its own, not the one where Playwright's event
    loop runs (the notifications it sends push through the channel layer with async_to_sync)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def run():
        try:
            return task(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=60)


# --- 1. street vending: the agents' approval stands, the process issues ------------------------------

VENDING_FIELDS = [
    {"name": "pitch", "label": "Pitch", "type": "choice", "required": True, "choices": ["harbour", "market"]},
    {"name": "goods", "label": "What you sell", "type": "text", "required": True},
    {"name": "fee_paid", "label": "Fee paid", "type": "boolean", "required": True},
]


def test_street_vending_is_issued_by_the_process_alone_in_the_browser_and_through_the_api(
    page, browser, live_server, aurelia, ada, bob, verified_email
):
    upload_process(aurelia, ada, "street_vending.bpmn")
    permit_type(
        aurelia,
        ada,
        name="Street vending",
        slug="street-vending",
        fields=VENDING_FIELDS,
        process_key="street_vending_permit",
        cluster=approvers(aurelia, ada, "Vending review", ["pitch", "fee_paid"]),
    )
    verified_email(bob)
    dana = citizen(aurelia, "dana", verified_email)
    base = live_server.url

    # the citizen applies through the generated form
    log_in(page, base, "bob")
    page.goto(base + PAGES)
    assert_accessible(page)
    application = apply_in_browser(
        page, base, "Street vending", {"Pitch": "harbour", "What you sell": "Roasted chestnuts", "Fee paid": True}
    )

    # the agents approved, the process issued: nobody confirmed
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ISSUED
    assert application.approve_automatically and application.decided_by is None
    assert application.process_instance.status == InstanceStatus.COMPLETED
    path = element_path(application.process_instance)
    assert path.index("review") < path.index("issue") < path.index("issued")
    page.reload()
    expect(page.locator("#application-status")).to_have_text("Permit issued")
    assert_accessible(page)

    # the holder opens the permit: its QR code links to the verification page
    page.get_by_role("link", name="Open the permit and its QR code").click()
    page.wait_for_load_state()
    expect(page.locator("#permit-status")).to_have_text("Active")
    expect(page.locator("figure.qr svg")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Roasted chestnuts")
    assert_accessible(page)
    permit = Permit.all_institutions.get(application=application)
    link = page.get_by_role("link", name="Open the verification page").get_attribute("href")
    assert urlsplit(link).path == reverse("credential-verify")
    assert urlsplit(link).query == f"id={permit.credential.uuid}"
    verify_page(page, base, permit)
    expect_verified(page)
    assert_accessible(page)

    # another citizen of the same institution sees neither the application nor the permit
    log_out(page)
    log_in(page, base, "dana")
    for url in (f"{PAGES}applications/{application.pk}/", f"{PAGES}permits/{permit.pk}/"):
        response = page.goto(base + url)
        assert response.status in (403, 404), url
        expect(page.locator("main")).not_to_contain_text("Roasted chestnuts")

    # through the API, with a token: the same path to an issued permit
    client = api_client(browser, base, bob)
    types = client.request.get(f"{API}types/")
    assert types.ok and "street-vending" in [t["slug"] for t in types.json()["results"]]
    refused = client.request.post(
        f"{API}applications/",
        data={"permit_type": "street-vending", "data": {"pitch": "pier", "goods": "Ice cream", "fee_paid": True}},
    )
    assert refused.status == 400 and "pitch" in refused.json()["errors"]  # not one of the pitches
    created = client.request.post(
        f"{API}applications/",
        data={"permit_type": "street-vending", "data": {"pitch": "market", "goods": "Ice cream", "fee_paid": True}},
    )
    assert created.status == 201, created.text()
    detail = client.request.get(f"{API}applications/{created.json()['id']}/").json()
    assert detail["status"] == "issued"
    assert [step["status_to"] for step in detail["timeline"]][-2:] == ["approved", "issued"]
    api_permit = client.request.get(f"{API}permits/{detail['permit']}/").json()
    assert verify_credential(api_permit["document"])["verified"]
    assert api_permit["document"]["credentialSubject"] != permit.credential.document["credentialSubject"]
    # ...and another citizen's token reads neither
    other = api_client(browser, base, dana)
    assert other.request.get(f"{API}applications/{created.json()['id']}/").status == 404
    assert other.request.get(f"{API}permits/{detail['permit']}/").status == 404
    client.close()
    other.close()
    assert PermitApplication.all_institutions.filter(status=ApplicationStatus.ISSUED).count() == 2
    assert PermitApplication.all_institutions.count() == 2  # the refused request made nothing

    audit_log_verifies("permits.application.process_start", "permits.application.auto_approve")
    assert AuditEvent.objects.filter(action="permits.application.auto_approve").count() == 2


# --- 2. event: a large crowd goes to the council, a small one to a civil servant ----------------------

EVENT_FIELDS = [
    {"name": "crowd_size", "label": "Expected crowd", "type": "number", "required": True},
    {"name": "venue", "label": "Venue", "type": "choice", "required": True, "choices": ["park", "square"]},
    {"name": "fee_paid", "label": "Fee paid", "type": "boolean", "required": True},
]


@pytest.fixture
def events_council(aurelia, verified_email):
    """A council whose mandate covers the permits review, three members with their second factor."""
    from apps.feedback import services as feedback_services

    with institution_scope(aurelia):
        council = feedback_services.council_create(
            institution=aurelia,
            actor=None,
            name="Events council",
            mandate_task_types=[redteam.TASK_TYPE],
            mandate_impacts=["medium", "high"],
            quorum=3,
            majority="simple",
            deadline_hours=48,
            escalation="institution_admin",
        )
        members = []
        for username in ("carmen", "councillor1", "councillor2"):
            user = citizen(aurelia, username, verified_email)
            feedback_services.council_member_add(
                council=council,
                user=user,
                kind="citizen",
                term_start=dt.date.today() - dt.timedelta(days=1),
                term_end=dt.date.today() + dt.timedelta(days=365),
                actor=None,
            )
            enrol_totp(user)
            members.append(user)
    return council, members


def test_an_event_goes_to_the_council_above_a_crowd_size_and_to_a_civil_servant_below(
    page, browser, live_server, aurelia, ada, alice, bob, verified_email, events_council
):
    from apps.feedback.models import ReviewItem, Vote
    from apps.notifications.models import Notification

    council, members = events_council
    upload_process(aurelia, ada, "event_permit.bpmn")
    permit_type(
        aurelia,
        ada,
        name="Event",
        slug="event",
        fields=EVENT_FIELDS,
        process_key="event_permit",
        # as the demo's Events cluster: a crowd of 1,000 or more is always flagged for the council
        cluster=approvers(
            aurelia, ada, "Events", ["crowd_size", "fee_paid"], high_impact={"field": "crowd_size", "threshold": 1000}
        ),
    )
    verified_email(bob, alice)
    base = live_server.url

    # a citizen applies in the browser for a large event
    log_in(page, base, "bob")
    large = apply_in_browser(page, base, "Event", {"Expected crowd": 2500, "Venue": "square", "Fee paid": True})
    expect(page.locator("#application-status")).to_have_text("Before the council")
    expect(page.get_by_role("button", name="Approve and issue the permit")).to_have_count(0)  # not for him
    assert_accessible(page)
    large.refresh_from_db()
    assert large.status == ApplicationStatus.IN_COUNCIL
    assert "announce" in element_path(large.process_instance)  # the administrators are told
    assert Notification.all_institutions.filter(recipient=ada, title__startswith="A large event").exists()
    # the agents' run is the council's case
    item = ReviewItem.all_institutions.get(council=council, subject_type="agents.cluster_run")
    assert item.subject_id == str(large.cluster_run_id)

    # each member votes in the browser; no permit before the council has decided
    for number, member_user in enumerate(members, start=1):
        log_out(page)
        log_in_with_code(page, base, member_user.username)
        page.goto(f"{base}/i/aurelia/councils/{council.pk}/")
        if number == 1:
            assert_accessible(page)
        page.get_by_role("link", name=f"Case {item.pk}: permits.review").click()
        page.wait_for_load_state()
        expect(page.get_by_role("region", name="The record")).to_contain_text("2500")
        if number == 1:
            assert_accessible(page)
        page.get_by_label("Approve the proposed decision").check()
        page.get_by_label("Your reason").fill(f"Member {number}: the square holds the crowd with the stewards planned.")
        page.get_by_role("button", name="Cast my vote").click()
        page.wait_for_load_state()
        expect(page.locator(".messages")).to_contain_text(
            "Your vote was recorded" if number < len(members) else "it completed the verdict"
        )
        assert Vote.all_institutions.filter(item=item).count() == number
        if number < len(members):
            large.refresh_from_db()
            assert large.status == ApplicationStatus.IN_COUNCIL
            assert not Permit.all_institutions.filter(application=large).exists()
    expect(page.locator("#item-live").get_by_role("heading", name="The council's verdict")).to_be_visible()
    assert_accessible(page)

    # the verdict approves; the process issues the permit
    large.refresh_from_db()
    assert large.status == ApplicationStatus.ISSUED
    assert large.decided_by is None  # the council decided, not a civil servant
    assert large.process_instance.status == InstanceStatus.COMPLETED
    permit = Permit.all_institutions.get(application=large)
    assert permit.status == PermitStatus.ACTIVE and verify_credential(permit.credential.document)["verified"]
    log_out(page)
    log_in(page, base, "bob")
    page.goto(f"{base}{PAGES}applications/{large.pk}/")
    expect(page.locator("#application-status")).to_have_text("Permit issued")
    expect(page.locator("main")).to_contain_text("The council Events council decided")

    # a small event, applied for through the API, waits for a civil servant
    client = api_client(browser, base, bob)
    created = client.request.post(
        f"{API}applications/",
        data={"permit_type": "event", "data": {"crowd_size": 150, "venue": "park", "fee_paid": True}},
    )
    assert created.status == 201, created.text()
    small_id = created.json()["id"]
    assert client.request.get(f"{API}applications/{small_id}/").json()["status"] == "awaiting_confirmation"
    assert client.request.post(f"{API}applications/{small_id}/decide/", data={"decision": "approve"}).status == 403
    client.close()
    small = PermitApplication.all_institutions.get(pk=small_id)
    assert "announce" not in element_path(small.process_instance)
    assert ReviewItem.all_institutions.count() == 1  # no case for the council
    assert not Permit.all_institutions.filter(application=small).exists()

    # the civil servant confirms in the browser; the process issues
    log_out(page)
    log_in(page, base, "alice")
    page.goto(f"{base}{PAGES}applications/{small_id}/")
    expect(page.locator("#application-status")).to_have_text("Awaiting a civil servant")
    assert_accessible(page)
    page.get_by_role("button", name="Approve and issue the permit").click()
    page.wait_for_load_state()
    expect(page.locator("#application-status")).to_have_text("Permit issued")
    small.refresh_from_db()
    assert small.status == ApplicationStatus.ISSUED and small.decided_by == alice
    assert Permit.all_institutions.get(application=small).status == PermitStatus.ACTIVE

    audit_log_verifies(
        "permits.application.to_council",
        "permits.application.council_approve",
        "permits.application.process_start",
    )
    assert not AuditEvent.objects.filter(action="permits.application.auto_approve").exists()  # never for events


# --- 3. building: pre-check, confirmation, inspection on a phone, violation, suspension, cure, expiry ----

BUILDING_FIELDS = [
    {"name": "plot", "label": "Plot number", "type": "text", "required": True},
    {"name": "floors", "label": "Floors", "type": "number", "required": True},
    {"name": "fee_paid", "label": "Fee paid", "type": "boolean", "required": True},
]
BUILDING_CONDITIONS = ["The foundations match the approved plans", "The site is fenced off from the street"]
PHONE = {"width": 390, "height": 844}


def test_a_building_permit_is_pre_checked_issued_inspected_suspended_reinstated_and_expires(
    page, browser, live_server, aurelia, ada, alice, bob, verified_email
):
    upload_process(aurelia, ada, "building_permit.bpmn")
    permit_type(
        aurelia,
        ada,
        name="Building",
        slug="building",
        fields=BUILDING_FIELDS,
        process_key="building_permit",
        cluster=approvers(aurelia, ada, "Building review", ["plot", "floors"]),
        conditions=BUILDING_CONDITIONS,
        cure_days=14,
        validity_days=730,
    )
    verified_email(bob, alice)
    base = live_server.url

    # the citizen applies in the browser; the process waits for a civil servant's pre-check
    log_in(page, base, "bob")
    application = apply_in_browser(page, base, "Building", {"Plot number": "B-17", "Floors": 3, "Fee paid": True})
    expect(page.locator("#application-status")).to_have_text("Submitted")
    assert_accessible(page)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.cluster_run_id is None  # the agents have not seen it yet
    assert page.goto(f"{base}/i/aurelia/bpm/queue/").status in (403, 404)  # the work queue is staff's

    # a civil servant completes the pre-check from the BPM work queue
    log_out(page)
    log_in(page, base, "alice")
    page.goto(f"{base}/i/aurelia/bpm/queue/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Work queue")
    assert_accessible(page)
    page.get_by_role("link", name="Pre-check the plans").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pre-check the plans")
    assert_accessible(page)
    expect(page.get_by_label("The site is in a heritage zone")).not_to_be_checked()
    page.get_by_label("Note for the reviewers").fill("Plans complete; three floors within the zoning limit.")
    page.get_by_role("button", name="Complete").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("The task “Pre-check the plans” is done.")

    # the agents reviewed it; the civil servant approves and the process issues
    application.refresh_from_db()
    assert application.status == ApplicationStatus.AWAITING_CONFIRMATION
    assert not Permit.all_institutions.filter(application=application).exists()
    page.goto(f"{base}{PAGES}applications/{application.pk}/")
    expect(page.locator("#application-status")).to_have_text("Awaiting a civil servant")
    page.get_by_role("button", name="Approve and issue the permit").click()
    page.wait_for_load_state()
    expect(page.locator("#application-status")).to_have_text("Permit issued")
    permit = Permit.all_institutions.get(application=application)
    assert permit.status == PermitStatus.ACTIVE

    # the process's first inspection step (the foundations) scheduled an inspection, medium risk
    inspection = Inspection.all_institutions.get(permit=permit)
    assert inspection.status == InspectionStatus.SCHEDULED and inspection.risk == "medium"
    instance = application.process_instance
    instance.refresh_from_db()
    assert "foundations" in instance.active_elements

    # the inspector takes it from the permit page
    page.get_by_role("link", name="Open the permit and its QR code").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_role("region", name="Inspections").get_by_role("link").first.click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Inspection: Building")
    assert_accessible(page)
    page.get_by_role("button", name="Take it myself").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("The inspection is assigned.")
    page.goto(f"{base}{PAGES}inspections/")  # her own inspections
    expect(page.locator("main")).to_contain_text(bob.get_full_name() or "bob")
    assert_accessible(page)

    # on site, on a phone: a report without answers is refused and changes nothing
    page.set_viewport_size(PHONE)
    page.goto(f"{base}{PAGES}inspections/{inspection.pk}/")
    page.get_by_role("link", name="File the report").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Inspection report: Building")
    assert_accessible(page)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]  # one column, no sideways
    page.get_by_role("button", name="File the report").click()
    page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    assert_accessible(page)  # with its errors
    inspection.refresh_from_db()
    assert inspection.status == InspectionStatus.SCHEDULED and not Violation.all_institutions.exists()

    # the foundations are fine, the fence is missing: a violation with a deadline
    foundations = page.get_by_role("group", name=f"Condition 1: {BUILDING_CONDITIONS[0]}")
    foundations.get_by_label("Met", exact=True).check()
    fence = page.get_by_role("group", name=f"Condition 2: {BUILDING_CONDITIONS[1]}")
    fence.get_by_label("Not met", exact=True).check()
    fence.get_by_label("Note").fill("No fence on the street side; the trench is open to passers-by.")
    page.get_by_role("button", name="File the report").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("The report is filed.")
    inspection.refresh_from_db()
    assert inspection.outcome == InspectionOutcome.VIOLATIONS and inspection.inspector == alice
    violation = Violation.all_institutions.get(permit=permit)
    assert violation.status == ViolationStatus.OPEN
    assert violation.condition == BUILDING_CONDITIONS[1]
    assert violation.cure_by == dt.date.today() + dt.timedelta(days=14)
    instance.refresh_from_db()
    assert "completion" in instance.active_elements  # no heritage zone: on to the completed works
    assert Inspection.all_institutions.filter(permit=permit, status=InspectionStatus.SCHEDULED).count() == 1
    page.set_viewport_size({"width": 1280, "height": 900})

    # the holder reads the violation and its deadline; he cannot confirm a cure
    log_out(page)
    log_in(page, base, "bob")
    page.goto(f"{base}{PAGES}permits/{permit.pk}/")
    violations = page.get_by_role("region", name="Violations")
    expect(violations).to_contain_text(BUILDING_CONDITIONS[1])
    expect(violations).to_contain_text("No fence on the street side")
    expect(violations.locator("time")).to_have_attribute("datetime", violation.cure_by.isoformat())
    expect(page.get_by_role("button", name="Confirm the cure")).to_have_count(0)
    assert page.goto(f"{base}{PAGES}inspections/{inspection.pk}/report/").status == 403

    # before the deadline the sweep changes nothing; after it, the permit is suspended
    assert as_beat(inspections.violations_overdue_sweep, today=violation.cure_by) == 0
    permit.refresh_from_db()
    assert permit.status == PermitStatus.ACTIVE
    assert as_beat(inspections.violations_overdue_sweep, today=violation.cure_by + dt.timedelta(days=1)) == 1
    permit.refresh_from_db()
    violation.refresh_from_db()
    assert (permit.status, violation.status) == (PermitStatus.SUSPENDED, ViolationStatus.OVERDUE)

    # a verifier scanning the QR code, with no account, sees it suspended (the status list)
    verifier = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    anonymous = verifier.new_page()
    verify_page(anonymous, base, permit)
    expect_verified(anonymous, error="suspended")
    assert_accessible(anonymous)
    page.goto(f"{base}{PAGES}permits/{permit.pk}/")
    expect(page.locator("#permit-status")).to_have_text("Suspended")
    expect(page.locator("main")).to_contain_text("not cured in time: the permit is suspended until it is.")
    assert_accessible(page)

    # the civil servant confirms the cure in the browser: the node reinstates the permit
    log_out(page)
    log_in(page, base, "alice")
    page.goto(f"{base}{PAGES}permits/{permit.pk}/")
    page.get_by_role("button", name="Confirm the cure").click()  # without saying how: refused
    page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_contain_text("Say how the violation was cured.")
    assert_accessible(page)
    violation.refresh_from_db()
    assert violation.status == ViolationStatus.OVERDUE
    page.get_by_label("Reason").fill("A two-metre fence now closes the street side (photographed on site).")
    page.get_by_role("button", name="Confirm the cure").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("The violation is closed.")
    expect(page.locator("#permit-status")).to_have_text("Active")
    permit.refresh_from_db()
    violation.refresh_from_db()
    assert (permit.status, violation.status) == (PermitStatus.ACTIVE, ViolationStatus.CURED)
    verify_page(anonymous, base, permit)
    expect_verified(anonymous)

    # the permit ends: the expiry sweep marks it expired
    assert as_beat(services.permits_expiry_sweep, now=permit.valid_until - dt.timedelta(days=1)) == (0, 1)  # reminded
    permit.refresh_from_db()
    assert permit.status == PermitStatus.ACTIVE
    assert as_beat(services.permits_expiry_sweep, now=permit.valid_until + dt.timedelta(seconds=1)) == (1, 0)
    permit.refresh_from_db()
    assert permit.status == PermitStatus.EXPIRED
    # at that moment the credential itself tells any verifier it has expired (its signed validUntil)
    late = verify_credential(permit.credential.document, now=permit.valid_until + dt.timedelta(seconds=1))
    assert not late["verified"] and "expired" in {e["code"] for e in late["errors"]}
    log_out(page)
    log_in(page, base, "bob")
    page.goto(f"{base}{PAGES}permits/{permit.pk}/")
    expect(page.locator("#permit-status")).to_have_text("Expired")
    expect(page.get_by_role("button", name="Renew this permit")).to_be_visible()  # the holder may renew
    assert_accessible(page)
    verifier.close()

    # the same type applied for through the API also waits for the pre-check
    client = api_client(browser, base, bob)
    created = client.request.post(
        f"{API}applications/", data={"permit_type": "building", "data": {"plot": "C-2", "floors": 1, "fee_paid": True}}
    )
    assert created.status == 201, created.text()
    second = PermitApplication.all_institutions.get(pk=created.json()["id"])
    client.close()
    assert second.status == ApplicationStatus.SUBMITTED
    assert WorkItem.all_institutions.filter(instance=second.process_instance, element_id="precheck").count() == 1

    audit_log_verifies(
        "permits.application.process_start",
        "permits.inspection.report",
        "permits.violation.overdue",
        "permits.permit.suspend_violations",
        "permits.violation.cure",
        "permits.permit.reinstate",
        "permits.permit.expire",
    )
    # the node suspended and reinstated, nobody by hand
    for action in ("permits.permit.suspend_violations", "permits.permit.reinstate"):
        assert list(AuditEvent.objects.filter(action=action).values_list("actor_type", "actor_id")) == [("system", "")]

"""People using the portal in a real browser: logging in, the second factor, switching
institutions, live notifications, and axe-core on every page of the portal's shell."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.notifications.models import Notification
from apps.notifications.services import notification_send
from apps.tenancy.models import Role
from apps.tenancy.scope import institution_scope
from portal.testing import TEST_PASSWORD, UserFactory, current_totp_code, member
from tests.browser.conftest import axe_violations, chromium_missing_reason, format_violations, log_in

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)

from playwright.sync_api import expect  # only once Chromium is known to be there

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def path_of(page) -> str:
    return "/" + page.url.split("//", 1)[1].split("/", 1)[1]


def page_errors(page) -> list[str]:
    """Console errors (CSP violations, failed loads), less the notification socket that
    the WSGI live_server cannot open (the daphne test covers it) and the error status of
    the page itself."""
    return [
        error
        for error in page.console_errors
        if "WebSocket" not in error
        # A page answered with its error status (404, 400) on purpose; assets must still load.
        and not ("Failed to load resource" in error and "/static/" not in error and "favicon" not in error)
    ]


def assert_accessible(page):
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n{format_violations(violations)}"


# --- Logging in ----------------------------------------------------------------------


def test_a_civil_servant_logs_in_and_sees_her_dashboard(page, live_server, alice, verified_email):
    verified_email(alice)
    log_in(page, live_server.url, "alice")

    assert path_of(page) == "/i/aurelia/"
    expect(page.get_by_role("heading", level=1)).to_have_text("City of Aurelia")
    expect(page.get_by_role("heading", name="Your work queue")).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Pages of City of Aurelia").get_by_role("link", name="Members")
    ).to_have_count(0)
    assert page_errors(page) == []


def test_an_admin_passes_the_totp_step(page, live_server, ada, verified_email):
    verified_email(ada)
    log_in(page, live_server.url, "ada")

    assert path_of(page) == reverse("mfa_authenticate")
    page.get_by_label("Code").fill(current_totp_code())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()

    assert path_of(page) == "/i/aurelia/"
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Latest signed tree head")).to_be_visible()


def test_a_council_member_without_totp_is_sent_to_set_it_up(page, live_server, aurelia, verified_email):
    carmen = member(UserFactory(username="carmen", first_name="Carmen"), aurelia, Role.COUNCIL_MEMBER)
    verified_email(carmen)
    log_in(page, live_server.url, "carmen")

    # allauth asks for the password once more before a second factor is added.
    assert path_of(page).startswith(reverse("account_reauthenticate"))
    assert "next=" + reverse("mfa_activate_totp").replace("/", "%2F") in page.url
    expect(page.locator(".messages")).to_contain_text("Your role requires two-factor authentication")
    assert_accessible(page)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.locator("main").get_by_role("button").first.click()
    page.wait_for_load_state()
    assert path_of(page) == reverse("mfa_activate_totp")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor authentication")
    assert_accessible(page)

    # Trying to go around it lands on the same page.
    page.goto(live_server.url + "/i/aurelia/")
    assert path_of(page) == reverse("mfa_activate_totp")

    secret = page.get_by_label("Secret for manual entry").input_value()
    page.get_by_label("Authenticator code").fill(current_totp_code(secret))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_load_state()
    page.goto(live_server.url + "/i/aurelia/")
    assert path_of(page) == "/i/aurelia/"
    expect(page.get_by_role("heading", name="Council review")).to_be_visible()


def test_the_institution_switcher_moves_between_institutions(page, live_server, alice, borealis, verified_email):
    member(alice, borealis, Role.CITIZEN)
    verified_email(alice)
    log_in(page, live_server.url, "alice")

    expect(page.get_by_role("heading", level=1)).to_have_text("Choose an institution")
    page.get_by_role("link", name=re.compile("City of Aurelia")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("City of Aurelia")

    page.get_by_label("Institution", exact=True).select_option(label="City of Borealis")
    page.get_by_role("button", name="Go").click()
    page.wait_for_load_state()
    assert path_of(page) == "/i/borealis/"
    expect(page.get_by_role("heading", level=1)).to_have_text("City of Borealis")
    expect(page.get_by_role("heading", name="What you can do here")).to_be_visible()


def test_the_language_switch_turns_the_portal_french(page, live_server, bob, verified_email):
    verified_email(bob)
    log_in(page, live_server.url, "bob")
    page.get_by_role("button", name="Français").click()
    page.wait_for_load_state()
    assert path_of(page) == "/i/aurelia/"
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Notifications récentes")).to_be_visible()


# --- Accessibility -------------------------------------------------------------------


def test_public_pages_have_no_serious_accessibility_violations(page, live_server):
    for path in ("/", reverse("account_login"), reverse("account_signup"), reverse("account_reset_password")):
        page.goto(live_server.url + path)
        assert_accessible(page)
    page.goto(live_server.url + "/no-such-page/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert_accessible(page)
    assert page_errors(page) == []


def test_member_pages_have_no_serious_accessibility_violations(page, live_server, ada, alice, bob, verified_email):
    verified_email(ada)
    with institution_scope(alice.memberships.first().institution) as aurelia:
        notification_send(institution=aurelia, recipient=ada, title="A role was granted", body="Bob is a citizen.")
    log_in(page, live_server.url, "ada")
    page.get_by_label("Code").fill(current_totp_code())
    assert_accessible(page)  # the TOTP step, with its error-free form
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()

    for path in (
        "/i/aurelia/",
        "/i/aurelia/members/",
        "/i/aurelia/notifications/",
        "/i/aurelia/audit/",
        "/i/aurelia/audit/tree-heads/",
        "/i/aurelia/audit/verifications/",
        reverse("mfa_index"),
    ):
        page.goto(live_server.url + path)
        assert_accessible(page)

    # Long work: verifying the log shows its progress and its result, accessibly.
    page.goto(live_server.url + "/i/aurelia/audit/verifications/")
    page.get_by_role("button", name="Verify the whole log now").click()
    page.wait_for_load_state()
    expect(page.locator("#verification-status")).to_have_text("Passed: the log is intact")
    assert_accessible(page)

    # A form with an error is accessible too, and says what went wrong.
    page.goto(live_server.url + "/i/aurelia/members/")
    page.get_by_label("User name").fill("nobody")
    page.get_by_role("button", name="Grant role").click()
    page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_contain_text("No account has this user name.")
    assert_accessible(page)

    page.goto(live_server.url + "/i/aurelia/no-such-page/")
    assert_accessible(page)
    assert page_errors(page) == []


def test_keyboard_users_can_skip_to_the_content(page, live_server):
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


# --- Live notifications (websocket, on daphne) --------------------------------------


def test_a_new_notification_appears_live_on_the_open_dashboard(page, asgi_server, bob, aurelia, verified_email):
    verified_email(bob)
    log_in(page, asgi_server.url, "bob")
    assert path_of(page) == "/i/aurelia/"
    live_list = page.locator("#live-notifications")
    expect(live_list).to_have_attribute("aria-live", "polite")
    expect(live_list).to_have_attribute("data-live", "connected")
    expect(page.locator("[data-unread-count]")).to_have_text("0")

    def send():
        with institution_scope(aurelia):
            return notification_send(
                institution=aurelia, recipient=bob, title="Your permit is ready", body="Collect it.", url="/i/aurelia/"
            ).pk

    notification_id = asgi_server.run_in_server(send)

    first = live_list.locator("li").first
    expect(first).to_contain_text("Your permit is ready")
    expect(first).to_contain_text("Collect it.")
    expect(first.get_by_role("link", name="Your permit is ready")).to_have_attribute("href", "/i/aurelia/")
    expect(page.locator("[data-unread-count]")).to_have_text("1")
    expect(page.locator("[data-empty-message]")).to_be_hidden()

    # The item that arrived live works like one rendered by the server.
    first.get_by_role("button", name=re.compile("Mark as read")).click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("“Your permit is ready” is marked as read.")
    assert Notification.all_institutions.get(pk=notification_id).read_at is not None

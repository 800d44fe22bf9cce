"""A citizen applies for a permit through the form generated from its type's schema, sees the status page
with its timeline, a civil servant approves, and the holder opens the permit with its QR code: in a real
browser, with axe-core on every page."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from apps.permits.models import ApplicationStatus, PermitApplication
from apps.permits.tests.conftest import PDF, make_type
from tests.browser.conftest import axe_violations, chromium_missing_reason, format_violations, log_in

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)

from playwright.sync_api import expect  # only once Chromium is known to be there

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def assert_accessible(page):
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n{format_violations(violations)}"


def test_a_citizen_applies_and_follows_the_application_to_the_permit(
    page, live_server, aurelia, ada, alice, bob, verified_email, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    make_type(aurelia, ada)  # no cluster: a civil servant decides
    verified_email(bob, alice)

    log_in(page, live_server.url, "bob")
    page.goto(live_server.url + "/i/aurelia/permits/")
    assert_accessible(page)
    page.get_by_role("link", name="Apply for: Street event").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_role("button", name="Send the application").click()
    page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)  # the form with its errors
    assert not PermitApplication.all_institutions.exists()
    page.get_by_label("Expected crowd").fill("120")
    page.get_by_label("Fee paid").check()
    page.get_by_label("Date").fill("2027-06-01")
    page.get_by_label("Venue").select_option("park")
    page.get_by_label("Site plan").set_input_files({"name": "plan.pdf", "mimeType": "application/pdf", "buffer": PDF})
    page.get_by_role("button", name="Send the application").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Application: Street event")
    expect(page.locator("#application-status")).to_have_text("Submitted")
    expect(page.get_by_role("heading", name="Where it is and why")).to_be_visible()
    assert_accessible(page)

    page.context.clear_cookies()
    log_in(page, live_server.url, "alice")
    page.goto(live_server.url + "/i/aurelia/permits/applications/")
    assert_accessible(page)
    page.get_by_role("link", name="Bob").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_role("button", name="Approve and issue the permit").click()
    page.wait_for_load_state()
    expect(page.locator("#application-status")).to_have_text("Permit issued")
    assert PermitApplication.all_institutions.get().status == ApplicationStatus.ISSUED

    page.context.clear_cookies()
    log_in(page, live_server.url, "bob")
    page.goto(live_server.url + "/i/aurelia/permits/")
    page.get_by_role("link", name="Street event").last.click()
    page.wait_for_load_state()
    expect(page.locator("#permit-status")).to_have_text("Active")
    expect(page.locator("figure.qr svg")).to_be_visible()
    assert_accessible(page)
    # the link (and the QR code) name the node's public address; here the live server stands in for it
    link = urlsplit(page.get_by_role("link", name="Open the verification page").get_attribute("href"))
    assert link.path == "/credentials/verify/" and link.query.startswith("id=")
    page.goto(f"{live_server.url}{link.path}?{link.query}")
    page.wait_for_load_state()
    expect(page.locator("main")).to_contain_text("This credential is genuine and valid")
    assert_accessible(page)

"""A newcomer proves residence, a civil servant approves it, the credential lands in the wallet and is
presented to a verifier: in a real browser, with axe-core on every new page."""

from __future__ import annotations

import json

import pytest

from apps.identity.credentials.verify import verify_presentation
from apps.identity.eligibility import resident_of
from apps.identity.models import Presentation
from apps.identity.tests.residence_helpers import PNG
from portal.testing import UserFactory
from tests.browser.conftest import axe_violations, chromium_missing_reason, format_violations, log_in

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)

from playwright.sync_api import expect  # only once Chromium is known to be there

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def assert_accessible(page):
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n{format_violations(violations)}"


def log_out(page):
    page.context.clear_cookies()


def test_apply_approve_and_present_from_the_wallet(
    page, live_server, aurelia, alice, verified_email, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    dora = UserFactory(username="dora", first_name="Dora")
    verified_email(dora, alice)

    # Dora, a member of nothing yet, asks Aurelia to confirm her residence.
    log_in(page, live_server.url, "dora")
    page.goto(live_server.url + "/residence/apply/")
    assert_accessible(page)
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    assert_accessible(page)  # the form with its errors
    page.get_by_label("Municipality").select_option(label="City of Aurelia")
    page.get_by_label("Street and number").fill("12 Harbour Road")
    page.get_by_label("Postcode").fill("4021")
    page.get_by_label("Town or city").fill("Aurelia")
    page.get_by_label("Supporting document (optional)").set_input_files(
        {"name": "lease.png", "mimeType": "image/png", "buffer": PNG}
    )
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your residence requests")
    expect(page.get_by_role("cell", name="Submitted")).to_be_visible()
    assert_accessible(page)

    # Alice, a civil servant of Aurelia, works the queue from her dashboard.
    log_out(page)
    log_in(page, live_server.url, "alice")
    page.get_by_role("link", name="Open the residence queue").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_role("link", name="Dora").click()
    page.wait_for_load_state()
    expect(page.get_by_role("link", name="Open lease.png")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Approve and issue the credential").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("Residence confirmed")

    # Dora is now a citizen of Aurelia; the credential is in her wallet, and she presents it.
    log_out(page)
    log_in(page, live_server.url, "dora")
    expect(page.get_by_role("heading", level=1)).to_have_text("City of Aurelia")
    expect(page.get_by_text("Your residence credential from City of Aurelia is valid")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Open your wallet").click()
    page.wait_for_load_state()
    expect(page.get_by_role("row", name="ResidenceCredential")).to_contain_text("Valid")
    assert_accessible(page)
    page.get_by_role("link", name="ResidenceCredential").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_label("Challenge").fill("verifier-challenge-1")
    page.get_by_label("Domain (optional)").fill("permits.example.org")
    page.get_by_role("button", name="Make the presentation").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Presentation")
    assert_accessible(page)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the presentation (JSON)").click()
    document = json.loads(open(download_info.value.path()).read())  # noqa: SIM115
    assert verify_presentation(document, challenge="verifier-challenge-1", domain="permits.example.org")["verified"]
    assert Presentation.objects.get().holder == dora
    assert resident_of(user=dora, institution=aurelia)

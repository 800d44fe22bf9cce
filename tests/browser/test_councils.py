"""A council member in a real browser: the second factor, the dashboard's cases, the queue, a
flagged case read as the agents saw it, a vote refused without a reason, a recusal, a vote
with its reason, the verdict arriving live when the others vote, and the public record —
with axe-core on each page. On daphne, so that the council's socket is live."""

from __future__ import annotations

import pytest

from apps.feedback.models import Recusal, Vote
from apps.feedback.tests.test_pages import flagged_run, item_of, make_council, seat, vote
from portal.testing import current_totp_code
from tests.browser.conftest import axe_violations, chromium_missing_reason, format_violations, log_in

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)

from playwright.sync_api import expect  # only once Chromium is known to be there

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class _NoCapture:
    """flagged_run's capture of on-commit callbacks: in a transactional test they run at commit."""

    def __call__(self, execute=False):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def assert_accessible(page):
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n{format_violations(violations)}"


def page_errors(page) -> list[str]:
    """Console errors (CSP violations, failed scripts), less the error status of a refused form."""
    return [e for e in page.console_errors if not ("Failed to load resource" in e and "/static/" not in e)]


@pytest.fixture
def council_world(aurelia, ada, alice, verified_email):
    from apps.agents.clusters import redteam

    council = make_council(aurelia, quorum=3)
    carmen = seat(council, "carmen", "Carmen")
    others = [seat(council, f"councillor{i}", f"Councillor{i}") for i in (1, 2)]
    verified_email(carmen)
    runs = [flagged_run(aurelia, ada, alice, _NoCapture()) for _ in range(2)]
    yield council, carmen, others, [item_of(run) for run in runs]
    redteam.forget_engine()


def test_a_council_member_reviews_recuses_votes_and_sees_the_verdict(page, asgi_server, aurelia, council_world):
    council, _carmen, others, (first, second) = council_world
    base = asgi_server.url

    log_in(page, base, "carmen")
    page.get_by_label("Code").fill(current_totp_code())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()

    # the dashboard lists the cases awaiting her vote
    panel = page.get_by_role("region", name="Council review: cases awaiting your vote")
    expect(panel).to_contain_text("2 cases are waiting for your vote.")

    # the queue, from the navigation
    page.get_by_role("navigation", name="Pages of City of Aurelia").get_by_role("link", name="Councils").click()
    page.get_by_role("link", name="Permits council", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Permits council")
    expect(page.get_by_role("heading", name="Open cases")).to_be_visible()
    expect(page.locator("#council-live")).to_have_attribute("data-live", "connected")
    assert_accessible(page)

    # the second case: she declares a conflict and steps aside
    page.get_by_role("link", name=f"Case {second.pk}: permits.review").click()
    page.get_by_label("Your conflict of interest").fill("The organiser is my neighbour.")
    page.get_by_role("button", name="Recuse myself").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("You recused yourself from this case")
    expect(page.locator("#item-live")).to_contain_text("The organiser is my neighbour.")
    expect(page.get_by_role("button", name="Cast my vote")).to_have_count(0)
    assert Recusal.all_institutions.get().item_id == second.pk

    # the first case, read as the agents saw it
    page.goto(f"{base}/i/aurelia/councils/{council.pk}/items/{first.pk}/")
    expect(page.get_by_role("heading", name="The question")).to_be_visible()
    expect(page.get_by_role("heading", name="Why the agents flagged it")).to_be_visible()
    record = page.get_by_role("region", name="The record")
    expect(record).to_contain_text("crowd_size")
    expect(record).to_contain_text("120")
    proposals = page.get_by_role("region", name="What each agent proposed")
    for name in ("Approver A", "Approver B", "Denier"):
        expect(proposals.get_by_role("heading", name=name)).to_be_visible()
    expect(proposals).to_contain_text("Claims and their evidence")

    # a vote without a reason is refused, says why, and changes nothing
    page.get_by_label("Approve the proposed decision").check()
    page.get_by_role("button", name="Cast my vote").click()
    page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_contain_text("Give the reason for your vote")
    expect(page.get_by_label("Your reason")).to_have_attribute("aria-invalid", "true")
    assert not Vote.all_institutions.exists()
    assert_accessible(page)

    # with its reason, the vote is recorded
    page.get_by_label("Approve the proposed decision").check()
    page.get_by_label("Your reason").fill("The fee is paid and the crowd is small.")
    page.get_by_role("button", name="Cast my vote").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("Your vote was recorded.")
    deliberation = page.locator("#item-live")
    expect(deliberation).to_have_attribute("aria-live", "polite")
    expect(deliberation).to_contain_text("The fee is paid and the crowd is small.")
    expect(page.locator("#council-live")).to_have_attribute("data-live", "connected")

    # the other members vote (through the service, on the server's loop): the verdict arrives live
    asgi_server.run_in_server(lambda: vote(first, others[0], "approve", "Nothing in the rules objects."))
    expect(deliberation).to_contain_text("Nothing in the rules objects.")
    asgi_server.run_in_server(lambda: vote(first, others[1], "reject", "The square is too small."))
    expect(deliberation.get_by_role("heading", name="The council's verdict")).to_be_visible()
    expect(deliberation).to_contain_text("Approve the proposed decision")
    expect(deliberation).to_contain_text("The square is too small.")  # the dissent is kept
    expect(deliberation).to_contain_text("Applied on")
    assert_accessible(page)

    # anyone reads the public record, without names
    page.goto(f"{base}/councils/aurelia/{council.pk}/record/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Public record of Permits council")
    expect(page.locator("main")).to_contain_text("The fee is paid and the crowd is small.")
    expect(page.locator("main")).to_contain_text("approve 2, reject 1, amend 0")
    for name in ("Carmen", "carmen", "Councillor1", "councillor2"):
        expect(page.locator("main")).not_to_contain_text(name)
    assert_accessible(page)
    assert page_errors(page) == []


def test_an_admin_creates_a_council_through_an_accessible_form(page, live_server, ada, verified_email):
    verified_email(ada)
    log_in(page, live_server.url, "ada")
    page.get_by_label("Code").fill(current_totp_code())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()

    page.goto(live_server.url + "/i/aurelia/councils/")
    page.get_by_role("link", name="New council").click()
    assert_accessible(page)
    page.get_by_label("Name").fill("Housing council")
    page.get_by_role("button", name="Create the council").click()
    page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_contain_text("Name at least one task type it reviews")
    assert_accessible(page)  # with its errors shown

    page.get_by_label("Task types it reviews").fill("housing.allocate")
    page.get_by_label("High").check()
    page.get_by_label("To the back-up council").check()
    page.get_by_role("button", name="Create the council").click()
    page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_contain_text("Name the back-up council")
    page.get_by_label("To the institution's administrators").check()
    page.get_by_role("button", name="Create the council").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("The council was created.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Housing council")
    expect(page.locator("main")).to_contain_text("Reviews housing.allocate cases with high, critical impact.")
    assert_accessible(page)
    page.goto(live_server.url + "/i/aurelia/councils/")
    assert_accessible(page)

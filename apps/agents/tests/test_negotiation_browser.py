"""The negotiation pages in a real browser: axe-core finds no serious violation, CSP holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser.conftest import (  # noqa: F401  (fixtures of the browser suite, used here)
    axe_violations,
    browser,
    chromium_missing_reason,
    format_violations,
    log_in,
    page,
    verified_email,
)

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)

from playwright.sync_api import expect  # only once Chromium is known to be there

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _assert_accessible(tab):
    violations = axe_violations(tab)
    assert not violations, f"axe-core on {tab.url}:\n{format_violations(violations)}"
    csp = [error for error in tab.console_errors if "Content Security Policy" in error]
    assert not csp, csp


def test_the_negotiation_pages_are_accessible(page, live_server, aurelia, borealis, ada, verified_email):  # noqa: F811
    from apps.agents.models import Agent, AgentStatus
    from apps.agents.negotiation import services
    from apps.agents.negotiation.models import Announcement
    from apps.agents.services import agent_register
    from apps.tenancy.models import Role
    from apps.tenancy.scope import institution_scope
    from portal.testing import UserFactory, current_totp_code, enrol_totp, member

    beatrice = member(UserFactory(username="beatrice"), borealis, Role.INSTITUTION_ADMIN)
    enrol_totp(beatrice)
    agents = {}
    for institution, actor, name in ((aurelia, ada, "Aurelia lifts"), (borealis, beatrice, "Borealis lifts")):
        with institution_scope(institution):
            agent = agent_register(
                institution=institution,
                actor=actor,
                name=name,
                purpose="Bids",
                capabilities=["services.maintenance"],
                engine="rules",
                config={"bidding": {"price": "900.00", "currency": "EUR", "hours": 40, "confidence": 0.8}},
            )
        Agent.all_institutions.filter(pk=agent.pk).update(status=AgentStatus.CERTIFIED)
        agents[name] = agent
    fields = {
        "task_type": "services.maintenance",
        "weights": {"price": 1, "time": 1, "confidence": 1},
        "currency": "EUR",
        "bidding_deadline": timezone.now() + timedelta(days=1),
    }
    with institution_scope(aurelia):
        ours = services.announcement_create(
            institution=aurelia, actor=ada, title="Lift maintenance", invited=[borealis.did], **fields
        )
    Announcement.all_institutions.filter(pk=ours.pk).update(bidding_deadline=timezone.now() - timedelta(seconds=1))
    ours.refresh_from_db()
    with institution_scope(aurelia):
        services.announcement_award(announcement=ours, actor=ada)
    with institution_scope(borealis):
        theirs = services.announcement_create(
            institution=borealis, actor=beatrice, title="Snow clearing", invited=[aurelia.did], **fields
        )

    verified_email(ada)
    log_in(page, live_server.url, "ada")
    page.get_by_label("Code").fill(current_totp_code())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    base = f"{live_server.url}/i/aurelia/agents/negotiations/"
    for path in ("", "new/", f"{ours.uid}/", f"{ours.uid}/contract/", f"incoming/{theirs.uid}/"):
        page.goto(base + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        _assert_accessible(page)

    # a form with errors says what is wrong, accessibly
    page.goto(base + "new/")
    page.get_by_role("button", name="Open the call").click()
    page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_be_visible()
    _assert_accessible(page)

    # the person signs the contract
    page.goto(base + f"{ours.uid}/contract/")
    page.get_by_label("I have read this contract").check()
    page.get_by_role("button", name="Sign the contract").click()
    page.wait_for_load_state()
    expect(page.get_by_text("The signature verifies with the signer's did:key.")).to_be_visible()
    _assert_accessible(page)

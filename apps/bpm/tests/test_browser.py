"""A civil servant in a real browser: the instance's diagram renders from the portal's own
bpmn-js under the strict CSP with the waiting step highlighted, the task is claimed and
completed through its form, and the pages pass axe-core."""

from __future__ import annotations

import pytest

from apps.bpm.models import InstanceStatus, WorkItem
from apps.bpm.tests.factories import start, upload
from tests.browser.conftest import axe_violations, chromium_missing_reason, format_violations, log_in

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)

from tests.browser import conftest as browser_fixtures

# the browser tests' fixtures, for this module outside tests/browser
browser = browser_fixtures.browser
page = browser_fixtures.page
verified_email = browser_fixtures.verified_email


def page_errors(page) -> list[str]:
    """Console errors (CSP violations, failed scripts); the notifications socket needs daphne, not live_server."""
    return [e for e in page.console_errors if "WebSocket" not in e]


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_diagram_shows_where_the_instance_waits_and_the_task_is_worked(
    page, live_server, aurelia, ada, alice, verified_email
):
    from django.contrib.staticfiles import finders

    if not finders.find("vendor/bpmn-js/bpmn-navigated-viewer.production.min.js"):
        pytest.skip("bpmn-js is not installed into static/vendor (bin/setup copies it after npm ci)")
    instance = start(upload(aurelia, ada), alice, {"crowd": 700})
    verified_email(alice)
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/i/aurelia/bpm/instances/{instance.pk}/")
    page.wait_for_selector(".bpm-diagram[data-rendered='true']")
    assert page.locator(".bpm-diagram .djs-element.bpm-active[data-element-id='review']").count() == 1
    assert page.locator(".bpm-diagram .djs-element.bpm-active").count() == 1
    violations = axe_violations(page)
    assert not violations, format_violations(violations)
    assert not page_errors(page), page_errors(page)  # CSP violations show up here

    item = WorkItem.all_institutions.get(instance=instance)
    page.goto(f"{live_server.url}/i/aurelia/bpm/queue/")
    page.get_by_role("link", name="Review the application").click()
    page.get_by_role("button", name="Claim this task").click()
    page.get_by_label("Approve the application").check()
    page.get_by_label("Comment").fill("Fine by me")
    page.get_by_role("button", name="Complete").click()
    page.wait_for_load_state()
    violations = axe_violations(page)
    assert not violations, format_violations(violations)
    item.refresh_from_db()
    instance.refresh_from_db()
    assert item.completed_by == alice and instance.status == InstanceStatus.COMPLETED
    assert not page_errors(page), page_errors(page)

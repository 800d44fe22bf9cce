"""Agents in a real browser: an administrator's cluster pages (with a form error), a task put
to a cluster and its run page, reputation with "why it moved", the learning page; and the
citizen's "decisions about you" with its appeal form — axe-core on each page, no console error."""

from __future__ import annotations

import time

import pytest

from apps.agents.clusters import redteam
from apps.agents.clusters import services as cluster_services
from apps.tenancy.scope import institution_scope
from portal.testing import current_totp_code
from tests.browser.conftest import axe_violations, chromium_missing_reason, format_violations, log_in

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)

from playwright.sync_api import expect  # only once Chromium is known to be there

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def assert_accessible(page):
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n{format_violations(violations)}"


def page_errors(page) -> list[str]:
    """Console errors, less the error status of a refused form and the run page's socket
    (the WSGI live server has none; the daphne tests cover it)."""
    return [
        e
        for e in page.console_errors
        if "WebSocket" not in e and not ("Failed to load resource" in e and "/static/" not in e)
    ]


@pytest.fixture
def agents_world(aurelia, ada, alice, bob):
    agents = [
        redteam.make_agent(aurelia, ada, "Intake"),
        redteam.make_agent(aurelia, ada, "Second opinion", confidence=0.6),
    ]
    with institution_scope(aurelia):
        cluster = cluster_services.cluster_create(
            institution=aurelia,
            actor=ada,
            name="Market stalls",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
        )
        runs = [
            cluster_services.cluster_run_start(
                cluster=cluster, record=redteam.RECORD, documents={}, actor=alice, concerns=bob
            )
            for _ in range(2)
        ]
    yield cluster, agents, runs
    redteam.forget_engine()


def test_an_administrator_manages_clusters_and_reads_reputation(page, live_server, ada, agents_world, verified_email):
    cluster, agents, _runs = agents_world
    verified_email(ada)
    log_in(page, live_server.url, "ada")
    page.get_by_label("Code").fill(current_totp_code())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    base = f"{live_server.url}/i/aurelia/agents/"

    page.goto(base + "clusters/")
    expect(page.get_by_role("link", name="Market stalls")).to_be_visible()
    assert_accessible(page)

    page.goto(base + "clusters/new/")
    page.get_by_role("button", name="Create the cluster").click()
    page.wait_for_load_state()
    expect(page.get_by_role("alert").first).to_be_visible()
    assert_accessible(page)  # a form with its errors

    page.goto(f"{base}clusters/{cluster.pk}/")
    assert_accessible(page)
    page.get_by_label("Record (JSON)").fill('{"applicant": {"age": 34, "resident": true}, "crowd_size": 120}')
    page.get_by_role("button", name="Submit").click()
    page.wait_for_load_state()
    assert "/agents/runs/" in page.url
    assert_accessible(page)

    page.goto(base + "reputation/")
    expect(page.get_by_role("link", name="Second opinion").first).to_be_visible()
    assert_accessible(page)
    page.goto(f"{base}{agents[1].uid}/reputation/")
    expect(page.get_by_role("heading", name="Why the score moved")).to_be_visible()
    assert_accessible(page)
    page.goto(f"{base}{agents[0].uid}/learning/")
    assert_accessible(page)
    assert page_errors(page) == []


def test_the_person_concerned_reads_the_decision_and_the_appeal_form(
    page, live_server, bob, agents_world, verified_email
):
    _cluster, _agents, runs = agents_world
    verified_email(bob)
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/i/aurelia/agents/my-decisions/")
    assert_accessible(page)
    page.goto(f"{live_server.url}/i/aurelia/agents/my-decisions/{runs[0].pk}/")
    expect(page.get_by_role("heading", name="Decision about you")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Appeal to the council").click()
    page.wait_for_load_state()
    expect(page.get_by_text("Say why you think the decision is wrong.").first).to_be_visible()
    assert_accessible(page)  # the appeal form with its error
    assert page_errors(page) == []


def test_a_run_page_follows_the_run_live_over_the_websocket(
    page, asgi_server, aurelia, ada, alice, verified_email, monkeypatch
):
    """On daphne: the page opens the run's socket while the run is queued, and shows each
    stage and the outcome as the worker (here: the services, called in the server) moves it."""
    from apps.agents import tasks

    agents = [redteam.make_agent(aurelia, ada, f"Stage {i}") for i in range(3)]
    with institution_scope(aurelia):
        cluster = cluster_services.cluster_create(
            institution=aurelia,
            actor=ada,
            name="Live",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
        )
        # queued, not run: the stages are driven below, while the page watches
        monkeypatch.setattr(tasks.cluster_stage, "delay", lambda **kwargs: None)
        run = cluster_services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=alice)
    verified_email(alice)
    log_in(page, asgi_server.url, "alice")
    page.goto(f"{asgi_server.url}/i/aurelia/agents/runs/{run.pk}/")
    expect(page.locator("#run-live")).to_have_attribute("data-live", "connected")
    expect(page.locator("#run-status")).to_have_text("Queued")

    def again(step):
        # SQLite's shared in-memory test database locks a table while the page reads it; the
        # steps are idempotent, as a worker's retried task would be
        from django.db import OperationalError

        for _attempt in range(50):
            try:
                return step()
            except OperationalError:
                time.sleep(0.1)
        return step()

    def work():
        with institution_scope(aurelia):
            for stage in range(3):
                again(lambda stage=stage: cluster_services.cluster_stage_execute(run=run, stage_index=stage))
            again(lambda: cluster_services.cluster_run_finalise(run=run))

    asgi_server.run_in_server(work, timeout=30)
    expect(page.locator("#run-status")).to_have_text("Decided", timeout=10_000)
    expect(page.locator("#run-announcement")).to_have_text("Decided. Decision: approve.")
    assert_accessible(page)
    redteam.forget_engine()

"""The person a decision concerns: told of it, reads the outcome and reasons, appeals to the council."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.agents import review
from apps.agents.clusters import redteam
from apps.agents.clusters import services as cluster_services
from apps.agents.models import ClusterRun
from apps.audit.models import AuditEvent
from apps.feedback import services as feedback_services
from apps.feedback.models import ItemKind, ReviewItem
from apps.notifications.models import Notification
from apps.tenancy.scope import institution_scope
from portal.errors import Conflict, PermissionDenied, ValidationFailed
from portal.testing import UserFactory, api_as, member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _redteam_engine():
    yield
    redteam.forget_engine()


@pytest.fixture
def council(aurelia):
    with institution_scope(aurelia):
        council = feedback_services.council_create(
            institution=aurelia,
            actor=None,
            name="Permits council",
            mandate_task_types=["*"],
            mandate_impacts=["medium", "high"],
            quorum=1,
            majority="simple",
            deadline_hours=24,
            escalation="institution_admin",
        )
        seat = member(UserFactory(username="councillor"), aurelia, "citizen")
        feedback_services.council_member_add(
            council=council,
            user=seat,
            kind="official",
            term_start=dt.date.today(),
            term_end=dt.date.today() + dt.timedelta(days=30),
            actor=None,
        )
    return council


@pytest.fixture
def decided(aurelia, ada, alice, bob, django_capture_on_commit_callbacks):
    agents = [redteam.make_agent(aurelia, ada, f"Agent {i}") for i in range(2)]
    with institution_scope(aurelia):
        cluster = cluster_services.cluster_create(
            institution=aurelia,
            actor=ada,
            name="Review",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
        )
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        run = cluster_services.cluster_run_start(
            cluster=cluster, record=redteam.RECORD, documents={}, actor=alice, concerns=bob
        )
    run.refresh_from_db()
    return run


def test_the_person_concerned_is_told_and_reads_the_decision(client, aurelia, bob, decided):
    assert decided.final_decision == "approve"
    assert Notification.all_institutions.filter(recipient=bob, title="A decision was made on your case").exists()
    client.force_login(bob)
    listing = client.get(f"/i/{aurelia.slug}/agents/my-decisions/").content.decode()
    assert "decided: approve" in listing
    page = client.get(f"/i/{aurelia.slug}/agents/my-decisions/{decided.pk}/").content.decode()
    assert "The decision is: <strong>approve</strong>" in page and "honest answer" in page


def test_nobody_else_reads_it(client, aurelia, alice, charlie, decided):
    for person in (alice, charlie):  # staff use the run page; another city sees nothing
        client.force_login(person)
        assert client.get(f"/i/{aurelia.slug}/agents/my-decisions/{decided.pk}/").status_code == 404


def test_a_person_outside_the_institution_cannot_be_named(aurelia, alice, charlie, decided):
    before = ClusterRun.all_institutions.count()
    with institution_scope(aurelia), pytest.raises(ValidationFailed):
        cluster_services.cluster_run_start(
            cluster=decided.cluster, record=redteam.RECORD, documents={}, actor=alice, concerns=charlie
        )
    assert ClusterRun.all_institutions.count() == before


def test_the_api_names_the_person_by_user_name(aurelia, alice, bob, decided):
    url = f"/api/v1/institutions/{aurelia.slug}/agents/clusters/{decided.cluster_id}/runs/"
    unknown = api_as(alice).post(url, {"record": redteam.RECORD, "concerns": "nobody-here"}, format="json")
    assert unknown.status_code == 400 and "concerns" in unknown.json()["errors"]
    ok = api_as(alice).post(url, {"record": redteam.RECORD, "concerns": bob.username}, format="json")
    assert ok.status_code == 202
    assert ClusterRun.all_institutions.get(pk=ok.json()["id"]).concerns == bob


def test_an_appeal_goes_to_the_council_and_its_verdict_is_final(client, aurelia, bob, council, decided):
    client.force_login(bob)
    url = f"/i/{aurelia.slug}/agents/my-decisions/{decided.pk}/"
    empty = client.post(url, {"grounds": "  "})
    assert empty.status_code == 400 and not ReviewItem.all_institutions.exists()
    response = client.post(url, {"grounds": "The crowd will be larger than the record says."}, follow=True)
    assert "Your appeal was sent to the council" in response.content.decode()
    item = ReviewItem.all_institutions.get(kind=ItemKind.APPEAL)
    assert item.citizen == bob and item.proposed_decision == "approve"
    assert item.case["appeal"]["grounds"].startswith("The crowd")
    assert AuditEvent.objects.filter(action="agents.cluster_run_appeal", target_id=str(decided.pk)).exists()
    with institution_scope(aurelia), pytest.raises(Conflict):
        review.cluster_run_appeal(run=decided, person=bob, grounds="Again.")
    with institution_scope(aurelia):
        feedback_services.review_vote(
            item=item, user=item.council.members.first().user, choice="reject", reason="Too many people for the site."
        )
    decided.refresh_from_db()
    assert decided.final_decision == "deny" and decided.council_verdict["kind"] == "appeal"
    assert Notification.all_institutions.filter(recipient=bob, title="The council has decided on your case").exists()
    assert "The council rejected the proposed decision." in client.get(url).content.decode()


def test_only_the_person_concerned_appeals(aurelia, alice, decided, council):
    with institution_scope(aurelia), pytest.raises(PermissionDenied):
        review.cluster_run_appeal(run=decided, person=alice, grounds="I disagree.")
    assert not ReviewItem.all_institutions.exists()


def test_the_dashboard_shows_the_decisions_about_you_only_to_whom_they_concern(client, aurelia, alice, bob, decided):
    client.force_login(bob)
    assert "Decisions about you" in client.get(f"/i/{aurelia.slug}/").content.decode()
    client.force_login(alice)
    assert "Decisions about you" not in client.get(f"/i/{aurelia.slug}/").content.decode()

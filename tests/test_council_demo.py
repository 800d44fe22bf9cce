"""End to end on the demo: a flagged permit decision reaches the Events council; its members
sign in with their second factor and deliberate through the pages (one recuses, the others
vote with reasons); at quorum the verdict is applied to the decision; Clara, whom it
concerns, reads it; the audit log holds every step and verifies."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from apps.agents.models import ClusterRun
from apps.audit.models import AuditEvent
from apps.audit.services import audit_sequence
from apps.feedback.models import Council, ItemStatus, ReviewItem
from apps.tenancy.management.commands.seed_demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings):
    settings.DEBUG = True  # seed_demo only seeds development nodes
    call_command("seed_demo", stdout=StringIO())
    settings.DEBUG = False


def sign_in(username: str) -> Client:
    """The real sign-in: password, then the demo persona's TOTP code (as `demo_totp` prints it)."""
    client = Client()
    response = client.post(reverse("account_login"), {"login": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    if response["Location"] == reverse("mfa_authenticate"):
        out = StringIO()
        call_command("demo_totp", username, stdout=out, stderr=StringIO())
        code = out.getvalue().strip()
        assert re.fullmatch(r"\d{6}", code)
        assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    assert AuditEvent.objects.filter(action="identity.login", actor_label=username).exists()
    return client


def test_a_flagged_demo_decision_is_decided_by_the_council(demo):
    council = Council.all_institutions.get(name="Events council")
    item = (
        ReviewItem.all_institutions.filter(council=council, status=ItemStatus.OPEN, impact="high")
        .order_by("pk")
        .first()
    )
    assert item is not None, "the demo's high-impact run is in the council's queue"
    run = ClusterRun.all_institutions.get(pk=int(item.subject_id))
    assert run.flagged and not run.final_decision and run.concerns.username == "clara"
    base = f"/i/aurelia/councils/{council.pk}/"
    url = f"{base}items/{item.pk}/"

    # without the second factor, a council member gets no further than the TOTP step
    half = Client()
    half.post(reverse("account_login"), {"login": "carmen", "password": DEMO_PASSWORD})
    assert half.get(url).status_code in (302, 403)

    carmen = sign_in("carmen")
    queue = carmen.get(base)
    assert queue.status_code == 200 and f"items/{item.pk}/" in queue.content.decode()
    page = carmen.get(url).content.decode()
    assert "Event risk model" in page and "crowd_size" in page  # the case as the agents saw it
    carmen.post(url + "recuse/", {"conflict": "My brother runs the stage company."})

    # three decisions are allowed (approve, deny, request_information): refusing is amending to "deny"
    for username, reason in (
        ("jonas", "The historic centre cannot take 2,500 people with amplified sound."),
        ("emil", "The noise for six hours is too much for the residents."),
    ):
        data = {"choice": "amend", "amended_decision": "deny", "reason": reason}
        response = sign_in(username).post(url + "vote/", data)
        assert response.status_code == 302, response.content.decode()[:2000]
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN  # two of the three who may vote: not yet a majority of all
    gustav = sign_in("gustav")
    refused = gustav.post(url + "vote/", {"choice": "approve", "reason": ""})
    assert refused.status_code == 400  # a reason is required
    gustav.post(url + "vote/", {"choice": "approve", "reason": "The organiser has a good record."})

    item.refresh_from_db()
    run.refresh_from_db()
    assert (item.status, item.verdict, item.verdict_decision) == (ItemStatus.DECIDED, "amend", "deny")
    assert len(item.dissent) == 1 and item.applied_at is not None
    assert run.final_decision == "deny" and run.council_verdict["item"] == item.pk

    clara = sign_in("clara")
    mine = clara.get(f"/i/aurelia/agents/my-decisions/{run.pk}/").content.decode()
    assert "The council amended the proposed decision." in mine and "historic centre" in mine

    actions = set(AuditEvent.objects.filter(target_id=str(item.pk)).values_list("action", flat=True))
    assert {"feedback.item_submit", "feedback.recuse", "feedback.vote", "feedback.verdict", "feedback.apply"} <= actions
    assert AuditEvent.objects.filter(action="agents.cluster_run_verdict", target_id=str(run.pk)).exists()
    audit_sequence()
    out = StringIO()
    call_command("audit", "verify", stdout=out, stderr=StringIO())
    assert "OK: the log verifies." in out.getvalue()

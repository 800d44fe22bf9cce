"""The auditor's web pages: event list with filters, event detail with its proof, tree heads."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent, LogHead, SignedTreeHead
from apps.audit.services import audit_sequence
from apps.audit.tests.helpers import record, sign
from portal.testing import UserFactory, member

LIST = reverse("audit:event-list", kwargs={"institution_slug": "aurelia"})
TREE_HEADS = reverse("audit:tree-heads", kwargs={"institution_slug": "aurelia"})


def detail(sequence: int, slug: str = "aurelia") -> str:
    return reverse("audit:event-detail", kwargs={"institution_slug": slug, "sequence": sequence})


def log_state() -> tuple:
    head = LogHead.objects.filter(pk=1).values_list("tree_size", "root_hash").first()
    rows = list(AuditEvent.objects.order_by("id").values_list("id", "sequence", "leaf_hash", "action"))
    return head, rows, SignedTreeHead.objects.count()


def positions_on(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<th scope="row"><a href="[^"]+">#(\d+)</a></th>', page)]


@pytest.fixture
def log(aurelia, borealis, alice):
    record(aurelia, 3, action="tenancy.membership.grant", actor=alice, target_type="tenancy.membership")
    record(borealis, 2, action="tenancy.membership.grant")
    record(aurelia, 2, action="permits.permit.approve", target_type="permits.permit", target_id="42")
    audit_sequence()
    sign()
    return list(AuditEvent.objects.filter(institution=aurelia).order_by("-sequence"))


def login(client, user):
    client.force_login(user)  # appends an identity.login event (no institution): sequence it now
    audit_sequence()
    return client


# --- who may see the pages ------------------------------------------------------------


@pytest.mark.django_db
def test_auditor_sees_the_event_list_newest_first(client, log, ada):
    login(client, ada)
    response = client.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert positions_on(page) == [e.sequence for e in log]  # Aurelia's only, newest first
    assert "<h1>" in page
    assert "<caption>" in page
    for field in ("action", "actor", "target_type", "since", "until"):
        assert re.search(rf'<label for="id_{field}">', page), field


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_members_without_an_audit_role_get_403_and_nothing_changes(client, log, persona, request):
    login(client, request.getfixturevalue(persona))
    before = log_state()
    for url in (LIST, detail(log[0].sequence), TREE_HEADS):
        assert client.get(url).status_code == 403, url
    assert log_state() == before


@pytest.mark.django_db
def test_outsider_gets_404_and_nothing_changes(client, log, charlie):
    login(client, charlie)
    before = log_state()
    for url in (LIST, detail(log[0].sequence), TREE_HEADS):
        assert client.get(url).status_code == 404, url
    assert log_state() == before


@pytest.mark.django_db
def test_anonymous_visitor_is_sent_to_log_in(client, log):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse(settings.LOGIN_URL))


@pytest.mark.django_db
def test_institution_admin_sees_the_pages(client, log, aurelia):
    from portal.testing import enrol_totp

    admin = member(UserFactory(username="grace"), aurelia, "institution_admin")
    enrol_totp(admin)
    login(client, admin)
    assert client.get(LIST).status_code == 200


@pytest.mark.django_db
def test_auditor_without_second_factor_is_sent_to_enrol(client, log, aurelia):
    auditor = member(UserFactory(username="otto"), aurelia, "auditor")
    login(client, auditor)
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


@pytest.mark.django_db
def test_post_is_not_allowed(client, log, ada):
    login(client, ada)
    before = log_state()
    assert client.post(LIST).status_code == 405
    assert log_state() == before


# --- filters and pages ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "actions"),
    [
        ({"action": "permits."}, {"permits.permit.approve"}),
        ({"action": "tenancy."}, {"tenancy.membership.grant"}),
        ({"actor": "alic"}, {"tenancy.membership.grant"}),
        ({"target_type": "permits.permit"}, {"permits.permit.approve"}),
        ({"action": "tenancy.", "target_type": "permits.permit"}, set()),
    ],
)
def test_filters(client, log, ada, params, actions):
    login(client, ada)
    response = client.get(LIST, params)
    assert response.status_code == 200
    shown = set(
        AuditEvent.objects.filter(sequence__in=positions_on(response.content.decode())).values_list("action", flat=True)
    )
    assert shown == actions
    if not actions:
        assert "No event matches these filters." in response.content.decode()


@pytest.mark.django_db
def test_target_type_choices_are_the_institutions_own(client, log, ada):
    login(client, ada)
    page = client.get(LIST).content.decode()
    assert '<option value="permits.permit">' in page
    assert client.get(LIST, {"target_type": "identity.user"}).status_code == 400


@pytest.mark.django_db
def test_date_range_covers_whole_days(client, aurelia, ada):
    old = record(aurelia, 2, action="test.old")
    record(aurelia, 1, action="test.new")
    ten_days_ago = timezone.now() - timedelta(days=10)
    AuditEvent.objects.filter(pk__in=[e.pk for e in old]).update(created_at=ten_days_ago)
    audit_sequence()
    login(client, ada)
    day = timezone.localdate(ten_days_ago).isoformat()

    on_the_day = client.get(LIST, {"since": day, "until": day}).content.decode()
    after = client.get(LIST, {"since": timezone.localdate().isoformat()}).content.decode()

    assert set(AuditEvent.objects.filter(sequence__in=positions_on(on_the_day)).values_list("action", flat=True)) == {
        "test.old"
    }
    assert len(positions_on(on_the_day)) == 2
    assert set(AuditEvent.objects.filter(sequence__in=positions_on(after)).values_list("action", flat=True)) == {
        "test.new"
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params", [{"since": "not a date"}, {"since": "2026-02-02", "until": "2026-02-01"}, {"action": "x" * 101}]
)
def test_bad_filters_are_a_400_with_a_message(client, log, ada, params):
    login(client, ada)
    response = client.get(LIST, params)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Please correct the filters above." in page
    assert positions_on(page) == []


@pytest.mark.django_db
def test_list_is_paginated_and_pages_keep_the_filters(client, aurelia, ada):
    record(aurelia, 55, action="test.bulk")
    record(aurelia, 3, action="other.thing")
    audit_sequence()
    login(client, ada)

    first = client.get(LIST, {"action": "test."}).content.decode()
    assert len(positions_on(first)) == 50
    assert "Page 1 of 2" in first
    next_link = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    assert "action=test." in next_link

    second = client.get(LIST + next_link).content.decode()
    assert len(positions_on(second)) == 5
    assert min(positions_on(first)) > max(positions_on(second))  # newest first, across pages


@pytest.mark.django_db
def test_list_query_count_does_not_grow_with_the_page(client, aurelia, ada, django_assert_max_num_queries):
    login(client, ada)
    record(aurelia, 2)
    audit_sequence()
    client.get(LIST)  # warm the session
    # 3 are the page's own (object types for the filter, count, page); the rest are the
    # session, user, tenancy scope, MFA check and the layout's institution switcher.
    with django_assert_max_num_queries(13) as small:
        client.get(LIST)
    record(aurelia, 45)
    audit_sequence()
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(positions_on(client.get(LIST).content.decode())) == 47


# --- one event and its proof ----------------------------------------------------------


@pytest.mark.django_db
def test_event_detail_shows_the_entry_and_a_verified_inclusion_proof(client, log, ada):
    login(client, ada)
    event = log[0]
    response = client.get(detail(event.sequence))
    assert response.status_code == 200
    page = response.content.decode()
    for value in (event.action, event.target_type, event.target_id, event.digest, event.leaf_hash, event.root_after):
        assert value in page
    inclusion = response.context["inclusion"]
    assert inclusion.verified
    assert inclusion.tree_head.tree_size == SignedTreeHead.objects.latest().tree_size
    assert all(node in page for node in inclusion.audit_path)
    assert "verified" in page
    assert "NOT verified" not in page


@pytest.mark.django_db
def test_tampered_event_detail_says_not_verified(client, log, ada):
    login(client, ada)
    event = log[-1]
    AuditEvent.objects.filter(pk=event.pk).update(action="tenancy.membership.revoke")

    response = client.get(detail(event.sequence))

    assert response.status_code == 200
    assert not response.context["inclusion"].content_matches
    assert not response.context["inclusion"].verified
    assert "NOT verified" in response.content.decode()


@pytest.mark.django_db
def test_event_not_yet_signed_is_not_yet_verifiable(client, aurelia, ada):
    record(aurelia, 1)
    audit_sequence()
    login(client, ada)
    event = AuditEvent.objects.get(institution=aurelia)
    response = client.get(detail(event.sequence))
    assert response.status_code == 200
    assert not response.context["inclusion"].covered
    assert "not yet verifiable" in response.content.decode()


@pytest.mark.django_db
def test_event_of_another_institution_or_unknown_is_404(client, log, ada, borealis):
    login(client, ada)
    other = AuditEvent.objects.filter(institution=borealis).first()
    assert client.get(detail(other.sequence)).status_code == 404
    assert client.get(detail(10_000)).status_code == 404


# --- tree heads -----------------------------------------------------------------------


@pytest.mark.django_db
def test_tree_heads_page_lists_the_latest_with_checked_signatures(client, log, ada, aurelia):
    record(aurelia, 2)
    newest = sign()
    login(client, ada)
    response = client.get(TREE_HEADS)
    assert response.status_code == 200
    page = response.content.decode()
    assert newest.root_hash in page
    assert page.index(newest.root_hash) < page.index(SignedTreeHead.objects.order_by("tree_size").first().root_hash)
    assert "INVALID" not in page

    SignedTreeHead.objects.filter(pk=newest.pk).update(root_hash="00" * 32)
    assert "INVALID" in client.get(TREE_HEADS).content.decode()


@pytest.mark.django_db
def test_tree_heads_page_without_any(client, aurelia, ada):
    login(client, ada)
    SignedTreeHead.objects.all().delete()
    assert "No tree head has been signed yet." in client.get(TREE_HEADS).content.decode()


# --- templates ------------------------------------------------------------------------


def test_templates_have_no_inline_styles_or_scripts_and_translate_their_text():
    for path in (Path(settings.BASE_DIR) / "templates" / "audit").glob("*.html"):
        source = path.read_text()
        assert "style=" not in source, path
        assert "<style" not in source, path
        # Scripts only from static files: the CSP refuses inline ones.
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), path
        assert re.search(r"{% load [^%]*\bi18n\b", source), path

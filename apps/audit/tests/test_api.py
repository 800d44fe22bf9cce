"""The log over the API: events for auditors, public tree heads and proofs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit import merkle
from apps.audit.models import AuditEvent, LogHead, SignedTreeHead
from apps.audit.services import audit_sequence
from apps.audit.tests.helpers import record, sign
from apps.identity import keys
from portal.testing import api_as, member

PROBLEM = "application/problem+json"


def events_url(slug: str = "aurelia") -> str:
    return reverse("api-audit-events", kwargs={"institution_slug": slug})


def event_url(sequence: int, slug: str = "aurelia") -> str:
    return reverse("api-audit-event", kwargs={"institution_slug": slug, "sequence": sequence})


def log_state() -> tuple:
    """Everything a read must leave as it was."""
    head = LogHead.objects.filter(pk=1).values_list("tree_size", "root_hash").first()
    rows = list(AuditEvent.objects.order_by("id").values_list("id", "sequence", "leaf_hash", "action"))
    return head, rows, SignedTreeHead.objects.count()


@pytest.fixture
def log(aurelia, borealis, alice):
    """Events of both cities, sequenced and signed."""
    record(aurelia, 3, action="tenancy.membership.grant", actor=alice, target_type="tenancy.membership")
    record(borealis, 2, action="tenancy.membership.grant")
    record(aurelia, 2, action="permits.permit.approve", target_type="permits.permit", target_id="42")
    audit_sequence()
    sign()
    return list(AuditEvent.objects.filter(institution=aurelia).order_by("-sequence"))


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    return body


# --- events ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_auditor_lists_the_institutions_events_newest_first(log, ada):
    response = api_as(ada).get(events_url())
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert [e["sequence"] for e in body["results"]] == [e.sequence for e in log]
    assert {e["action"] for e in body["results"]} == {"tenancy.membership.grant", "permits.permit.approve"}


@pytest.mark.django_db
def test_event_detail_gives_the_entry_its_leaf_hash_is_computed_over(log, ada):
    event = log[0]
    response = api_as(ada).get(event_url(event.sequence))
    assert response.status_code == 200
    body = response.json()
    assert body["sequence"] == event.sequence
    assert body["target_id"] == "42"
    assert merkle.leaf_hash(body["entry"].encode()).hex() == body["leaf_hash"] == event.leaf_hash


@pytest.mark.django_db
def test_institution_admin_who_is_not_auditor_may_read(log, aurelia):
    from portal.testing import UserFactory, enrol_totp

    admin = member(UserFactory(username="grace"), aurelia, "institution_admin")
    enrol_totp(admin)
    assert api_as(admin).get(events_url()).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_members_without_an_audit_role_get_403_and_nothing_changes(log, persona, request):
    user = request.getfixturevalue(persona)
    before = log_state()
    assert_problem(api_as(user).get(events_url()), 403, "permission_denied")
    assert_problem(api_as(user).get(event_url(log[0].sequence)), 403, "permission_denied")
    # Zero trust: each refusal is itself audited (identity.api_forbidden); nothing else changed.
    refusals = AuditEvent.objects.filter(action="identity.api_forbidden")
    assert refusals.count() == 2
    refusals.delete()
    assert log_state() == before


@pytest.mark.django_db
def test_outsider_gets_404_and_nothing_changes(log, charlie):
    before = log_state()
    assert_problem(api_as(charlie).get(events_url()), 404, "not_found")
    assert_problem(api_as(charlie).get(event_url(log[0].sequence)), 404, "not_found")
    assert_problem(api_as(charlie).get(events_url("no-such-city")), 404, "not_found")
    assert log_state() == before


@pytest.mark.django_db
def test_anonymous_is_asked_to_authenticate(log):
    response = APIClient().get(events_url())
    assert response.status_code == 401
    assert response["content-type"].startswith(PROBLEM)


@pytest.mark.django_db
def test_an_event_of_another_institution_is_not_found(log, ada, borealis):
    other = AuditEvent.objects.filter(institution=borealis).first()
    assert_problem(api_as(ada).get(event_url(other.sequence)), 404, "not_found")
    assert_problem(api_as(ada).get(event_url(10_000)), 404, "not_found")


@pytest.mark.django_db
def test_auditor_without_second_factor_is_refused(log, aurelia):
    from portal.testing import UserFactory

    auditor = member(UserFactory(username="otto"), aurelia, "auditor")
    assert_problem(api_as(auditor).get(events_url()), 403, "mfa_required")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "permits."}, {"permits.permit.approve"}),
        ({"action": "tenancy.membership"}, {"tenancy.membership.grant"}),
        ({"action": "nothing."}, set()),
        ({"actor": "ALI"}, {"tenancy.membership.grant"}),
        ({"target_type": "permits.permit"}, {"permits.permit.approve"}),
        ({"target_type": "permits.permit", "target_id": "43"}, set()),
    ],
)
def test_filters(log, ada, params, expected):
    body = api_as(ada).get(events_url(), params).json()
    assert {e["action"] for e in body["results"]} == expected


@pytest.mark.django_db
def test_date_filters(aurelia, ada):
    old = record(aurelia, 2, action="test.old")
    record(aurelia, 1, action="test.new")
    AuditEvent.objects.filter(pk__in=[e.pk for e in old]).update(created_at=timezone.now() - timedelta(days=10))
    audit_sequence()
    cutoff = (timezone.now() - timedelta(days=1)).isoformat()

    since = api_as(ada).get(events_url(), {"since": cutoff}).json()
    until = api_as(ada).get(events_url(), {"until": cutoff}).json()

    assert [e["action"] for e in since["results"]] == ["test.new"]
    assert [e["action"] for e in until["results"]] == ["test.old", "test.old"]


@pytest.mark.django_db
def test_bad_filter_is_a_400_problem(log, ada):
    body = assert_problem(api_as(ada).get(events_url(), {"since": "yesterday"}), 400, "validation_failed")
    assert "since" in body["errors"]


@pytest.mark.django_db
def test_event_list_query_count_does_not_grow_with_the_page(aurelia, ada, django_assert_max_num_queries):
    # institution, the caller's roles here and anywhere (MFA), their authenticator, count, page
    client = api_as(ada)
    record(aurelia, 3)
    audit_sequence()
    with django_assert_max_num_queries(6):
        assert len(client.get(events_url()).json()["results"]) == 3
    record(aurelia, 40)
    audit_sequence()
    with django_assert_max_num_queries(6):
        assert len(client.get(events_url()).json()["results"]) == 43


@pytest.mark.django_db
def test_unsequenced_events_are_not_listed_yet(aurelia, ada):
    record(aurelia, 2)
    assert api_as(ada).get(events_url()).json()["count"] == 0


# --- tree heads -----------------------------------------------------------------------


def sth_message(body: dict) -> bytes:
    """The signed bytes, rebuilt from the response alone as the API documents them."""
    import json

    payload = {"tree_size": body["tree_size"], "root_hash": body["root_hash"], "timestamp": body["timestamp"]}
    return b"civitas-signed-tree-head-v1\n" + json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.django_db
def test_latest_tree_head_is_public_and_its_signature_verifies_from_the_response(log):
    body = APIClient().get(reverse("api-audit-sth-latest")).json()
    assert body["tree_size"] == LogHead.objects.get(pk=1).tree_size
    assert body["root_hash"] == LogHead.objects.get(pk=1).root_hash
    assert keys.verify(bytes.fromhex(body["public_key"]), bytes.fromhex(body["signature"]), sth_message(body))


@pytest.mark.django_db
def test_tree_head_at_a_size(log):
    size = SignedTreeHead.objects.latest().tree_size
    body = APIClient().get(reverse("api-audit-sth", kwargs={"tree_size": size})).json()
    assert body["tree_size"] == size
    assert_problem(APIClient().get(reverse("api-audit-sth", kwargs={"tree_size": size + 100})), 404, "not_found")


@pytest.mark.django_db
def test_no_tree_head_yet_is_a_404_problem():
    assert_problem(APIClient().get(reverse("api-audit-sth-latest")), 404, "not_found")


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["-1", "ten", "1.5"])
def test_bad_tree_size_is_a_400_problem(log, size):
    body = assert_problem(APIClient().get(f"/api/v1/audit/tree-heads/{size}/"), 400, "validation_failed")
    assert "tree_size" in body["errors"]


# --- proofs ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_inclusion_proofs_verify_against_the_signed_tree_head(log, ada):
    client = api_as(ada)
    sth = client.get(reverse("api-audit-sth-latest")).json()
    root = bytes.fromhex(sth["root_hash"])
    for event in log:
        entry = client.get(event_url(event.sequence)).json()["entry"]
        proof = client.get(
            reverse("api-audit-inclusion"), {"sequence": event.sequence, "tree_size": sth["tree_size"]}
        ).json()
        leaf = merkle.leaf_hash(entry.encode())
        assert proof["leaf_hash"] == leaf.hex()
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        assert merkle.verify_inclusion(
            leaf=leaf, index=event.sequence, size=sth["tree_size"], proof=path, expected_root=root
        )
        assert not merkle.verify_inclusion(
            leaf=merkle.leaf_hash(entry.encode() + b" "),
            index=event.sequence,
            size=sth["tree_size"],
            proof=path,
            expected_root=root,
        )


@pytest.mark.django_db
def test_consistency_proof_links_two_signed_tree_heads(log, aurelia):
    old = SignedTreeHead.objects.latest()
    record(aurelia, 5)
    new = sign()
    client = APIClient()
    first = client.get(reverse("api-audit-sth", kwargs={"tree_size": old.tree_size})).json()
    second = client.get(reverse("api-audit-sth", kwargs={"tree_size": new.tree_size})).json()

    body = client.get(reverse("api-audit-consistency"), {"first": old.tree_size, "second": new.tree_size}).json()

    assert merkle.verify_consistency(
        old_size=first["tree_size"],
        new_size=second["tree_size"],
        old_root=bytes.fromhex(first["root_hash"]),
        new_root=bytes.fromhex(second["root_hash"]),
        proof=[bytes.fromhex(h) for h in body["proof"]],
    )


@pytest.mark.django_db
def test_consistency_proof_to_the_same_size_is_empty(log):
    size = SignedTreeHead.objects.latest().tree_size
    body = APIClient().get(reverse("api-audit-consistency"), {"first": size, "second": size}).json()
    assert body["proof"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"sequence": "-1", "tree_size": "3"}, "validation_failed"),
        ({"sequence": "0", "tree_size": "0"}, "validation_failed"),
        ({"sequence": "0", "tree_size": "-3"}, "validation_failed"),
        ({"sequence": "abc", "tree_size": "3"}, "validation_failed"),
        ({"sequence": "0", "tree_size": "3.5"}, "validation_failed"),
        ({"sequence": "0"}, "validation_failed"),
        ({"sequence": "3", "tree_size": "3"}, "entry_outside_tree"),
        ({"sequence": "0", "tree_size": "1000"}, "tree_size_too_large"),
    ],
)
def test_bad_inclusion_request_is_a_400_problem(log, params, code):
    before = log_state()
    assert_problem(APIClient().get(reverse("api-audit-inclusion"), params), 400, code)
    assert log_state() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"first": "0", "second": "3"}, "validation_failed"),
        ({"first": "-1", "second": "3"}, "validation_failed"),
        ({"first": "x", "second": "3"}, "validation_failed"),
        ({"first": "1"}, "validation_failed"),
        ({"first": "4", "second": "3"}, "bad_tree_sizes"),
        ({"first": "1", "second": "1000"}, "tree_size_too_large"),
    ],
)
def test_bad_consistency_request_is_a_400_problem(log, params, code):
    assert_problem(APIClient().get(reverse("api-audit-consistency"), params), 400, code)

"""Councils, queues, votes and verdicts over the API: the same rules as the pages, problem+json errors."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.feedback.models import Council, ItemStatus, Recusal, Vote
from apps.feedback.tests.test_pages import (  # noqa: F401 (fixtures)
    _redteam_engine,
    make_council,
    state,
    vote,
    world,
)
from apps.tenancy.models import Role
from portal.testing import UserFactory, api_as, enrol_totp, member

pytestmark = pytest.mark.django_db

API = "/api/v1/institutions/aurelia/councils/"


def _items(world):  # noqa: F811
    return f"{API}{world.council.pk}/items/"


def _item(world):  # noqa: F811
    return f"{API}{world.council.pk}/items/{world.item.pk}/"


def _council_body(**overrides):
    body = {
        "name": "Housing council",
        "description": "Housing allocations.",
        "mandate_task_types": ["housing.allocate"],
        "mandate_impacts": ["high", "critical"],
        "quorum": 5,
        "majority": "two_thirds",
        "deadline_hours": 96,
        "escalation": "institution_admin",
        "strata_fields": ["district"],
        "public_record": False,
    }
    body.update(overrides)
    return body


def _problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    return response.json()


# --- councils ---------------------------------------------------------------------------------------


def test_any_member_lists_and_reads_councils(bob, world):  # noqa: F811
    client = api_as(bob)
    response = client.get(API)
    assert response.status_code == 200
    assert [c["name"] for c in response.json()["results"]] == ["Budget council", "Permits council"]
    detail = client.get(f"{API}{world.council.pk}/").json()
    assert detail["quorum"] == 3 and detail["mandate_impacts"] == ["medium", "high"]


def test_the_council_list_pins_its_queries(aurelia, ada, django_assert_max_num_queries):
    for i in range(8):
        make_council(aurelia, name=f"Council {i}", task_types=[f"t{i}.review"])
    client = api_as(ada)
    with django_assert_max_num_queries(10):
        response = client.get(API)
    assert response.json()["count"] == 8


def test_an_admin_creates_and_updates_a_council(ada, aurelia, world):  # noqa: F811
    client = api_as(ada)
    response = client.post(API, _council_body(), format="json")
    assert response.status_code == 201, response.content
    council = Council.all_institutions.get(pk=response.json()["id"])
    assert council.institution == aurelia and council.quorum == 5 and not council.public_record
    body = _council_body(escalation="backup_council", backup_council=world.other.pk)
    response = client.put(f"{API}{council.pk}/", body, format="json")
    assert response.status_code == 200 and response.json()["backup_council"] == world.other.pk
    assert AuditEvent.objects.filter(action="feedback.council_update", target_id=str(council.pk)).exists()


def test_council_writes_are_for_admins_and_bad_ones_change_nothing(ada, bob, borealis, world):  # noqa: F811
    stranger = make_council(borealis, name="Borealis council")
    before = state()
    _problem(api_as(bob).post(API, _council_body(), format="json"), 403, "permission_denied")
    _problem(
        api_as(world.members[0]).put(f"{API}{world.council.pk}/", _council_body(), format="json"),
        403,
        "permission_denied",
    )
    client = api_as(ada)
    problem = _problem(client.post(API, _council_body(name="Budget council"), format="json"), 400, "validation_failed")
    assert "name" in problem["errors"]
    problem = _problem(
        client.post(API, _council_body(mandate_impacts=["huge"]), format="json"), 400, "validation_failed"
    )
    assert "mandate_impacts" in problem["errors"]
    body = _council_body(escalation="backup_council", backup_council=stranger.pk)
    problem = _problem(client.post(API, body, format="json"), 400, "validation_failed")
    assert "backup_council" in problem["errors"]
    assert state() == before


# --- the queue and the case ----------------------------------------------------------------------------


def test_the_queue_and_the_case_are_for_members_admins_and_auditors(aurelia, alice, bob, ada, world):  # noqa: F811
    auditor = member(UserFactory(username="audra"), aurelia, Role.AUDITOR)
    enrol_totp(auditor)
    for user in (world.members[0], ada, auditor):
        client = api_as(user)
        response = client.get(_items(world))
        assert response.status_code == 200, user
        assert [i["id"] for i in response.json()["results"]] == [world.item.pk]
        case = client.get(_item(world)).json()
        assert case["case"]["record"]["crowd_size"] == 120
        assert [p["agent"] for p in case["case"]["proposals"]] == ["Approver A", "Approver B", "Denier"]
        assert case["votes"] == [] and case["recusals"] == [] and case["status"] == "open"
    for user in (alice, bob, world.outsider_member):
        _problem(api_as(user).get(_items(world)), 403, "permission_denied")
        _problem(api_as(user).get(_item(world)), 403, "permission_denied")


def test_a_member_of_council_a_cannot_read_council_b(world):  # noqa: F811
    client = api_as(world.members[0])
    _problem(client.get(f"{API}{world.other.pk}/items/"), 403, "permission_denied")
    # and an item of A asked through B's URL does not exist there
    dora = api_as(world.outsider_member)
    _problem(dora.get(f"{API}{world.other.pk}/items/{world.item.pk}/"), 404, "not_found")


def test_the_queue_filters_by_status_and_pins_its_queries(world, django_assert_max_num_queries):  # noqa: F811
    client = api_as(world.members[0])
    with django_assert_max_num_queries(12):
        assert client.get(_items(world) + "?status=all").json()["count"] == 1
    assert client.get(_items(world) + "?status=decided").json()["count"] == 0
    _problem(client.get(_items(world) + "?status=lost"), 400, "validation_failed")


def test_another_institution_gets_404_and_nothing_changes(charlie, world):  # noqa: F811
    client = api_as(charlie)
    before = state()
    for path in (API, f"{API}{world.council.pk}/", _items(world), _item(world)):
        _problem(client.get(path), 404, "not_found")
    _problem(
        client.post(_item(world) + "votes/", {"choice": "approve", "reason": "x"}, format="json"), 404, "not_found"
    )
    _problem(client.post(_item(world) + "recusal/", {"conflict": "x"}, format="json"), 404, "not_found")
    assert state() == before


# --- votes and recusals --------------------------------------------------------------------------------


def test_a_member_votes_and_the_verdict_comes_at_quorum(world):  # noqa: F811
    vote(world.item, world.members[0], "approve", "Fee paid.")
    vote(world.item, world.members[1], "reject", "Noise.")
    response = api_as(world.members[2]).post(
        _item(world) + "votes/", {"choice": "approve", "reason": "Small crowd."}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "open" and len(response.json()["votes"]) == 3
    response = api_as(world.members[3]).post(
        _item(world) + "votes/", {"choice": "approve", "reason": "Agreed."}, format="json"
    )
    body = response.json()
    assert body["status"] == ItemStatus.DECIDED and body["verdict"] == "approve"
    assert body["verdict_reasons"] == ["Fee paid.", "Small crowd.", "Agreed."]
    assert body["dissent"] == [{"vote": "reject", "amended_decision": "", "reason": "Noise."}]
    assert body["applied_at"] is not None and body["apply_error"] == ""
    assert [v["member"] for v in body["votes"]] == [f"councillor{i}" for i in range(4)]


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"choice": "approve", "reason": ""}, 400, "validation_failed"),
        ({"choice": "maybe", "reason": "Hm."}, 400, "validation_failed"),
        ({"choice": "amend", "reason": "Same.", "amended_decision": "approve"}, 400, "validation_failed"),
    ],
)
def test_bad_votes_change_nothing(world, body, status, code):  # noqa: F811
    before = state()
    _problem(api_as(world.members[0]).post(_item(world) + "votes/", body, format="json"), status, code)
    assert state() == before and not Vote.all_institutions.exists()


def test_refused_votes_are_problems_and_change_nothing(ada, world):  # noqa: F811
    client = api_as(world.members[0])
    client.post(_item(world) + "recusal/", {"conflict": "My sister organises it."}, format="json")
    assert Recusal.all_institutions.count() == 1
    before = state()
    _problem(
        client.post(_item(world) + "votes/", {"choice": "approve", "reason": "Fine."}, format="json"), 409, "conflict"
    )
    _problem(client.post(_item(world) + "recusal/", {"conflict": "Again."}, format="json"), 409, "conflict")
    # an administrator sees the queue but does not sit on the council
    _problem(
        api_as(ada).post(_item(world) + "votes/", {"choice": "approve", "reason": "Fine."}, format="json"),
        403,
        "permission_denied",
    )
    _problem(
        api_as(world.members[1]).post(_item(world) + "recusal/", {"conflict": ""}, format="json"),
        400,
        "validation_failed",
    )
    assert state() == before


def test_a_recusal_is_recorded_with_its_conflict(world):  # noqa: F811
    response = api_as(world.members[1]).post(
        _item(world) + "recusal/", {"conflict": "I work for the organiser."}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["recusals"] == [
        {**response.json()["recusals"][0], "member": "councillor1", "conflict": "I work for the organiser."}
    ]
    assert AuditEvent.objects.filter(action="feedback.recuse", target_id=str(world.item.pk)).count() == 1

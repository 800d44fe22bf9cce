"""The council's socket (apps/feedback/consumers.py): who joins, and the events static/js/council.js
relies on (one message per change of a case of the council, after commit)."""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.feedback import services
from apps.feedback.models import ReviewItem
from apps.feedback.subjects import ReviewSubject, register_subject
from apps.tenancy.models import Role
from apps.tenancy.scope import institution_scope
from portal.asgi import application
from portal.testing import UserFactory, enrol_totp, member, websocket_headers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TODAY = dt.date.today()


def _world(aurelia):
    """Two councils of Aurelia: carmen sits on the first with cyrus, dora on the second."""
    with institution_scope(aurelia):
        councils = [
            services.council_create(
                institution=aurelia,
                actor=None,
                name=name,
                mandate_task_types=[task_type],
                mandate_impacts=["high"],
                quorum=2,
                majority="simple",
                deadline_hours=48,
                escalation="institution_admin",
            )
            for name, task_type in (("Permits council", "permits.review"), ("Budget council", "budget.review"))
        ]
        people = []
        for council, username in zip(councils, ("carmen", "dora"), strict=True):
            user = member(UserFactory(username=username), aurelia, Role.CITIZEN)
            services.council_member_add(
                council=council,
                user=user,
                kind="citizen",
                term_start=TODAY - dt.timedelta(days=1),
                term_end=TODAY + dt.timedelta(days=30),
                actor=None,
            )
            enrol_totp(user)
            people.append(user)
        second = member(UserFactory(username="cyrus"), aurelia, Role.CITIZEN)
        services.council_member_add(
            council=councils[0],
            user=second,
            kind="official",
            term_start=TODAY,
            term_end=TODAY + dt.timedelta(days=30),
            actor=None,
        )
        enrol_totp(second)
    return councils, [*people, second]


def _apply(*, item, actor=None) -> None:
    """The test domain takes every verdict."""


SUBJECT = register_subject(ReviewSubject(type="tests.live_case", label="A test case", apply=_apply))


def _submit(aurelia, council, subject_id="1"):
    with institution_scope(aurelia):
        return services.review_item_submit(
            institution=aurelia,
            kind="critical_act",
            subject_type=SUBJECT.type,
            subject_id=subject_id,
            task_type="permits.review",
            impact="high",
            question="Grant it?",
            proposed_decision="approve",
            allowed_decisions=["approve", "deny"],
            case={"record": {"crowd_size": 120}},
            council=council,
        )


async def _connect(user, path):
    communicator = WebsocketCommunicator(application, path, headers=await sync_to_async(websocket_headers)(user))
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


def _path(institution, council_id) -> str:
    return f"/ws/i/{institution.slug}/councils/{council_id}/"


async def test_members_admins_and_auditors_join_and_hear_each_change(aurelia, ada):
    (council, _other), (carmen, _dora, cyrus) = await sync_to_async(_world)(aurelia)
    listeners = []
    for user in (carmen, ada):  # a sitting member; an administrator and auditor
        communicator, connected, _ = await _connect(user, _path(aurelia, council.pk))
        assert connected, user
        listeners.append(communicator)

    item = await sync_to_async(_submit)(aurelia, council)
    for communicator in listeners:
        event = await communicator.receive_json_from(timeout=5)
        assert event == {"event": "item_created", "item": item.pk, "status": "open"}

    def cast(user, choice, reason):
        with institution_scope(aurelia):
            return services.review_vote(item=item, user=user, choice=choice, reason=reason)

    await sync_to_async(cast)(carmen, "approve", "Fine.")
    for communicator in listeners:
        event = await communicator.receive_json_from(timeout=5)
        assert (event["event"], event["item"], event["votes"]) == ("vote", item.pk, 1)
        assert "reason" not in event  # the socket says what moved; the page reads the rest

    await sync_to_async(cast)(cyrus, "approve", "Agreed.")
    for communicator in listeners:
        events = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
        assert [e["event"] for e in events] == ["vote", "verdict"]
        assert events[1]["status"] == "decided" and events[1]["verdict"] == "approve"
        await communicator.disconnect()


async def test_recusals_and_escalations_are_announced(aurelia):
    (council, _other), (carmen, _dora, _cyrus) = await sync_to_async(_world)(aurelia)
    item = await sync_to_async(_submit)(aurelia, council)
    communicator, connected, _ = await _connect(carmen, _path(aurelia, council.pk))
    assert connected

    def recuse():
        with institution_scope(aurelia):
            services.review_recuse(item=item, user=carmen, conflict="My neighbour.")

    await sync_to_async(recuse)()
    assert (await communicator.receive_json_from(timeout=5))["event"] == "recusal"

    def escalate():
        deadline = ReviewItem.all_institutions.get(pk=item.pk).deadline
        return services.review_items_escalate_due(now=deadline + dt.timedelta(minutes=1))

    assert await sync_to_async(escalate)() == 1
    event = await communicator.receive_json_from(timeout=5)
    assert (event["event"], event["status"]) == ("escalated", "escalated")
    await communicator.disconnect()


async def test_no_one_else_joins(aurelia, alice, bob, charlie):
    (council, other), (carmen, dora, _cyrus) = await sync_to_async(_world)(aurelia)
    # a member of the other council, and members without a seat: refused before joining
    for user in (dora, alice, bob):
        _, connected, code = await _connect(user, _path(aurelia, council.pk))
        assert not connected and code == 4403, user
    # and carmen does not hear the budget council
    _, connected, code = await _connect(carmen, _path(aurelia, other.pk))
    assert not connected and code == 4403
    # unknown or malformed councils look alike
    for council_id in ("999999", "abc", "0"):
        _, connected, code = await _connect(carmen, _path(aurelia, council_id))
        assert not connected and code == 4404, council_id
    # another institution: refused by the tenancy middleware; and anonymous visitors
    _, connected, _ = await _connect(charlie, _path(aurelia, council.pk))
    assert not connected
    _, connected, _ = await _connect(None, _path(aurelia, council.pk))
    assert not connected


async def test_an_item_of_another_council_is_not_heard(aurelia):
    (council, other), (carmen, _dora, _cyrus) = await sync_to_async(_world)(aurelia)
    communicator, connected, _ = await _connect(carmen, _path(aurelia, council.pk))
    assert connected
    await sync_to_async(_submit)(aurelia, other, subject_id="2")
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()

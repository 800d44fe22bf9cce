"""The contract net: announce, bid (locally and through envelopes), award, sign; refusals and access."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.agents.models import Agent, AgentReputation, AgentStatus, ReputationSnapshot
from apps.agents.negotiation import services
from apps.agents.negotiation.models import (
    Announcement,
    AnnouncementStatus,
    Bid,
    BidOutcome,
    BidSource,
    Contract,
    ContractStatus,
    ReceivedCall,
    ReceivedCallStatus,
    SentBid,
)
from apps.agents.services import agent_register
from apps.audit.models import AuditEvent
from apps.federation.models import OutboxEnvelope, OutboxStatus
from apps.federation.services import envelope_receive
from apps.federation.tests.helpers import raw, signed_document
from apps.identity.models import SigningKey
from apps.tenancy.models import Role
from apps.tenancy.scope import institution_scope
from portal.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed
from portal.testing import InstitutionFactory, UserFactory, api_as, enrol_totp, member

pytestmark = pytest.mark.django_db

TASK = "services.maintenance"
WEIGHTS = {"price": 0.5, "time": 0.3, "confidence": 0.2}


@pytest.fixture
def beatrice(borealis):
    user = member(UserFactory(username="beatrice", first_name="Beatrice"), borealis, Role.INSTITUTION_ADMIN)
    enrol_totp(user)
    return user


def make_agent(institution, actor, name, *, capabilities=(TASK,), bidding=None, certified=True) -> Agent:
    with institution_scope(institution):
        agent = agent_register(
            institution=institution,
            actor=actor,
            name=name,
            purpose="Bids on maintenance contracts",
            capabilities=list(capabilities),
            engine="rules",
            config={"bidding": bidding} if bidding else {},
        )
    if certified:  # fixture shortcut: certification proper is a threshold approval
        Agent.all_institutions.filter(pk=agent.pk).update(status=AgentStatus.CERTIFIED)
        agent.refresh_from_db()
    return agent


def announce(institution, actor, capture, **overrides) -> Announcement:
    fields = {
        "task_type": TASK,
        "title": "Maintenance of the town hall's lifts",
        "description": "Quarterly maintenance for a year.",
        "specification": {"lifts": 3, "visits_per_year": 4},
        "weights": WEIGHTS,
        "currency": "EUR",
        "max_price": "20000.00",
        "max_hours": 2000,
        "bidding_deadline": timezone.now() + timedelta(days=7),
        "invited": [],
        **overrides,
    }
    with institution_scope(institution), capture(execute=True):
        announcement = services.announcement_create(institution=institution, actor=actor, **fields)
    announcement.refresh_from_db()
    return announcement


def close_bidding(announcement: Announcement) -> None:
    """Fixture shortcut: the deadline passes (for the announcer and every invited institution)."""
    past = timezone.now() - timedelta(seconds=1)
    Announcement.all_institutions.filter(pk=announcement.pk).update(bidding_deadline=past)
    ReceivedCall.all_institutions.filter(call_uid=announcement.uid).update(bidding_deadline=past)
    announcement.refresh_from_db()


def award(announcement, actor, capture) -> Announcement:
    with institution_scope(announcement.institution), capture(execute=True):
        services.announcement_award(announcement=announcement, actor=actor)
    announcement.refresh_from_db()
    return announcement


def bids(announcement):
    return list(Bid.all_institutions.filter(announcement=announcement).order_by("pk"))


def actions(institution) -> list[str]:
    return list(AuditEvent.objects.filter(institution=institution).values_list("action", flat=True))


POLICY = {"price": "12000.00", "currency": "EUR", "hours": 400, "confidence": 0.9}


@pytest.fixture
def local_agent(aurelia, ada):
    return make_agent(aurelia, ada, "Aurelia lifts", bidding=POLICY)


@pytest.fixture
def remote_agent(borealis, beatrice):
    return make_agent(borealis, beatrice, "Borealis lifts", bidding={**POLICY, "price": "9000.00", "hours": 600})


# --- the whole protocol -------------------------------------------------------------------


def test_the_whole_protocol_locally_and_across_institutions_through_envelopes(
    aurelia, borealis, ada, beatrice, local_agent, remote_agent, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    announcement = announce(aurelia, ada, capture, invited=[borealis.did])

    # the invitation reached Borealis as a signed envelope; both agents bid from their policies
    call = ReceivedCall.all_institutions.get(institution=borealis, call_uid=announcement.uid)
    assert (call.title, call.currency, call.max_price, call.announcer_did) == (
        announcement.title,
        "EUR",
        Decimal("20000.00"),
        aurelia.did,
    )
    local, remote = sorted(bids(announcement), key=lambda b: b.source != BidSource.LOCAL)
    assert (local.source, local.agent_id, local.price) == (BidSource.LOCAL, local_agent.pk, Decimal("12000.00"))
    assert (remote.source, remote.agent_did, remote.bidder_did) == (BidSource.ENVELOPE, remote_agent.did, borealis.did)
    assert remote.price == Decimal("9000.00") and remote.hours == 600 and remote.confidence == Decimal("0.900")
    # each bid is signed by its agent's own key, verifiable from the did:key alone
    for bid in (local, remote):
        assert services.bid_signature_valid(document=bid.document, signature=bid.signature)
    sent = SentBid.all_institutions.get(institution=borealis, call=call)
    assert sent.signature == remote.signature and sent.outcome == BidOutcome.PENDING

    # the award waits for the deadline
    with institution_scope(aurelia), pytest.raises(Conflict):
        services.announcement_award(announcement=announcement, actor=ada)
    close_bidding(announcement)
    announcement = award(announcement, ada, capture)

    assert announcement.status == AnnouncementStatus.AWARDED
    local.refresh_from_db()
    remote.refresh_from_db()
    # price 0.5: 9000 beats 12000; time 0.3: 400 h beats 600 h; confidence equal; no reputation yet
    assert remote.outcome == BidOutcome.WON and local.outcome == BidOutcome.LOST
    assert (remote.rank, local.rank) == (1, 2) and remote.score > local.score
    assert remote.reputation_weight == 1.0 and local.reputation_weight == 1.0
    reasoning = announcement.award_reasoning
    assert reasoning["winner"] == remote_agent.did and len(reasoning["bids"]) == 2 and reasoning["explanation"]
    # the winner's institution is told through an envelope
    sent.refresh_from_db()
    call.refresh_from_db()
    assert sent.outcome == BidOutcome.WON and sent.award["rank"] == 1
    assert call.status == ReceivedCallStatus.AWARDED

    # the contract draft awaits a person's signature
    contract = Contract.all_institutions.get(announcement=announcement)
    assert contract.status == ContractStatus.DRAFT and contract.bid_id == remote.pk
    assert contract.document["contractor"]["agent"] == remote_agent.did
    assert contract.document["price"] == {"amount": "9000.00", "currency": "EUR"}
    assert contract.document["bid"]["signature"] == remote.signature

    with institution_scope(aurelia), capture(execute=True):
        services.contract_sign(contract=contract, actor=ada, confirm=True)
    contract.refresh_from_db()
    announcement.refresh_from_db()
    ada.refresh_from_db()
    assert contract.status == ContractStatus.SIGNED and announcement.status == AnnouncementStatus.CONTRACTED
    # the signature names the person and verifies with their own did:key
    assert contract.signer == ada and contract.signer_did == ada.did and ada.did.startswith("did:key:")
    assert contract.signed_statement["signer"]["username"] == "ada"
    assert SigningKey.objects.get(key_id=contract.key_id).owner_id == str(ada.pk)
    assert services.contract_signature_valid(contract)
    # the counterparty receives the signed contract and can check it too
    call.refresh_from_db()
    assert call.status == ReceivedCallStatus.CONTRACTED
    assert services.signed_contract_valid(
        document=call.contract["contract"], statement=call.contract["statement"], signature=call.contract["signature"]
    )

    # every step is in the audit log, on each side
    assert {
        "agents.negotiation.announce",
        "agents.negotiation.bid",
        "agents.negotiation.bid_receive",
        "agents.negotiation.award",
        "agents.negotiation.contract_draft",
        "agents.negotiation.contract_sign",
    } <= set(actions(aurelia))
    assert {
        "agents.negotiation.call_receive",
        "agents.negotiation.bid_send",
        "agents.negotiation.award_receive",
        "agents.negotiation.contract_receive",
    } <= set(actions(borealis))
    award_event = AuditEvent.objects.get(action="agents.negotiation.award", target_id=str(announcement.pk))
    assert {b["agent"] for b in award_event.changes["bids"]} == {local_agent.did, remote_agent.did}
    bid_event = AuditEvent.objects.get(action="agents.negotiation.bid")
    assert (bid_event.actor_type, bid_event.actor_id) == ("agent", local_agent.did)  # the agent bid itself


def test_a_tampered_contract_does_not_verify(aurelia, ada, local_agent, django_capture_on_commit_callbacks):
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)
    close_bidding(announcement)
    award(announcement, ada, django_capture_on_commit_callbacks)
    contract = Contract.all_institutions.get(announcement=announcement)
    with institution_scope(aurelia):
        services.contract_sign(contract=contract, actor=ada, confirm=True)
    contract.refresh_from_db()
    assert services.contract_signature_valid(contract)
    contract.document["price"]["amount"] = "1.00"
    assert not services.contract_signature_valid(contract)


def test_the_losers_institution_is_told_it_lost(
    aurelia, borealis, ada, beatrice, remote_agent, django_capture_on_commit_callbacks
):
    make_agent(aurelia, ada, "Aurelia bargain", bidding={**POLICY, "price": "100.00", "hours": 10})
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])
    close_bidding(announcement)
    award(announcement, ada, django_capture_on_commit_callbacks)
    sent = SentBid.all_institutions.get(institution=borealis)
    assert sent.outcome == BidOutcome.LOST and sent.award["rank"] == 2
    assert ReceivedCall.all_institutions.get(institution=borealis).status == ReceivedCallStatus.NOT_WON
    assert "agents.negotiation.reject_receive" in actions(borealis)


def test_an_institution_whose_two_agents_bid_reads_won_when_one_wins(
    aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks
):
    make_agent(borealis, beatrice, "Borealis dear", bidding={**POLICY, "price": "19000.00"})
    make_agent(borealis, beatrice, "Borealis cheap", bidding={**POLICY, "price": "5000.00"})
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])
    assert len(bids(announcement)) == 2
    close_bidding(announcement)
    award(announcement, ada, django_capture_on_commit_callbacks)
    outcomes = dict(SentBid.all_institutions.values_list("agent__name", "outcome"))
    assert outcomes == {"Borealis dear": BidOutcome.LOST, "Borealis cheap": BidOutcome.WON}
    assert ReceivedCall.all_institutions.get(institution=borealis).status == ReceivedCallStatus.AWARDED


def test_an_admin_bids_for_an_agent_of_an_invited_institution(
    aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks
):
    agent = make_agent(borealis, beatrice, "Borealis manual")  # no policy: a person bids for it
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])
    call = ReceivedCall.all_institutions.get(institution=borealis)
    assert not bids(announcement)
    with institution_scope(borealis), django_capture_on_commit_callbacks(execute=True):
        sent = services.call_bid_send(
            call=call, agent=agent, price="15000", currency="eur", hours=100, confidence="0.75", actor=beatrice
        )
    (bid,) = bids(announcement)
    assert bid.agent_did == agent.did and bid.price == Decimal("15000.00") and bid.signature == sent.signature
    outbox = OutboxEnvelope.all_institutions.get(envelope_id=sent.envelope_id)
    assert outbox.status == OutboxStatus.DELIVERED


# --- what is refused ----------------------------------------------------------------------


def _remote_bid_envelope(*, announcement, sender, agent, price="9000.00", capabilities=(TASK,), tamper=None):
    document = services.bid_document(
        call_uid=announcement.uid,
        announcer_did=announcement.institution.did,
        agent_did=agent.did,
        bidder_did=sender.did,
        price=Decimal(price),
        currency="EUR",
        hours=100,
        confidence=Decimal("0.8"),
    )
    signature = services.bid_sign(agent=agent, document=document)
    if tamper:
        document = tamper(dict(document))
    body = {"bid": document, "signature": signature, "agent_name": agent.name, "capabilities": list(capabilities)}
    return raw(signed_document(sender=sender, recipient_did=announcement.institution.did, type="agents.bid", body=body))


def _refused(raw_envelope, code):
    before = Bid.all_institutions.count()
    with pytest.raises(ApplicationError) as caught:
        envelope_receive(raw=raw_envelope)
    assert caught.value.code == code, caught.value.message
    assert Bid.all_institutions.count() == before
    event = AuditEvent.objects.filter(action="federation.envelope.reject").last()
    assert event.changes["reason"] == code
    return caught.value


def test_a_tampered_remote_bid_signature_is_refused(
    aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks
):
    agent = make_agent(borealis, beatrice, "Borealis manual")
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])

    def cheaper(document):
        document["price"] = {"amount": "1.00", "currency": "EUR"}
        return document

    error = _refused(
        _remote_bid_envelope(announcement=announcement, sender=borealis, agent=agent, tamper=cheaper),
        "invalid_bid_signature",
    )
    assert "signature" in error.message
    assert "agents.negotiation.bid_receive" not in actions(aurelia)


def test_a_bid_signed_by_another_agent_is_refused(aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks):
    agent, other = make_agent(borealis, beatrice, "Borealis one"), make_agent(borealis, beatrice, "Borealis two")
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])

    def claim_other(document):
        document["agent"] = other.did
        return document

    _refused(
        _remote_bid_envelope(announcement=announcement, sender=borealis, agent=agent, tamper=claim_other),
        "invalid_bid_signature",
    )


def test_late_bids_are_refused_locally_and_remotely(
    aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks
):
    local = make_agent(aurelia, ada, "Aurelia manual")
    remote = make_agent(borealis, beatrice, "Borealis manual")
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])
    close_bidding(announcement)
    events = AuditEvent.objects.count()
    with institution_scope(aurelia), pytest.raises(services.BiddingClosed):
        services.bid_submit(
            announcement=announcement, agent=local, price="10", currency="EUR", hours=1, confidence="0.5", actor=ada
        )
    assert AuditEvent.objects.count() == events and not bids(announcement)
    _refused(_remote_bid_envelope(announcement=announcement, sender=borealis, agent=remote), "bidding_closed")
    # the invited side refuses first, so its administrator sees the error at once
    call = ReceivedCall.all_institutions.get(institution=borealis)
    with institution_scope(borealis), pytest.raises(services.BiddingClosed):
        services.call_bid_send(
            call=call, agent=remote, price="10", currency="EUR", hours=1, confidence="0.5", actor=beatrice
        )
    assert not SentBid.all_institutions.exists()


def test_agents_without_the_capability_are_refused(
    aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks
):
    local = make_agent(aurelia, ada, "Aurelia permits", capabilities=["permits.intake"])
    remote = make_agent(borealis, beatrice, "Borealis permits", capabilities=["permits.intake"])
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])
    with institution_scope(aurelia), pytest.raises(services.CapabilityMissing):
        services.bid_submit(
            announcement=announcement, agent=local, price="10", currency="EUR", hours=1, confidence="0.5", actor=ada
        )
    _refused(
        _remote_bid_envelope(announcement=announcement, sender=borealis, agent=remote, capabilities=["permits.intake"]),
        "capability_missing",
    )
    call = ReceivedCall.all_institutions.get(institution=borealis)
    with institution_scope(borealis), pytest.raises(services.CapabilityMissing):
        services.call_bid_send(
            call=call, agent=remote, price="10", currency="EUR", hours=1, confidence="0.5", actor=beatrice
        )
    assert not bids(announcement) and not SentBid.all_institutions.exists()


def test_duplicate_bids_are_refused(aurelia, borealis, ada, beatrice, local_agent, django_capture_on_commit_callbacks):
    remote = make_agent(borealis, beatrice, "Borealis manual")
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])
    assert len(bids(announcement)) == 1  # the local agent's policy bid
    with institution_scope(aurelia), pytest.raises(services.DuplicateBid):
        services.bid_submit(
            announcement=announcement, agent=local_agent, price="1", currency="EUR", hours=1, confidence="1", actor=ada
        )
    envelope_receive(raw=_remote_bid_envelope(announcement=announcement, sender=borealis, agent=remote))
    _refused(
        _remote_bid_envelope(announcement=announcement, sender=borealis, agent=remote, price="10.00"), "duplicate_bid"
    )
    assert len(bids(announcement)) == 2


def test_an_institution_that_was_not_invited_cannot_bid(aurelia, borealis, ada, django_capture_on_commit_callbacks):
    outsider = InstitutionFactory(name="Outsider", slug="outsider")
    agent = make_agent(outsider, None, "Outsider agent")
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])
    _refused(_remote_bid_envelope(announcement=announcement, sender=outsider, agent=agent), "not_invited")


@pytest.mark.parametrize(
    "values, field",
    [
        ({"price": "-1"}, "price"),
        ({"price": "12.345"}, "price"),
        ({"price": "twelve"}, "price"),
        ({"price": "25000"}, "price"),  # above the call's highest price
        ({"currency": "USD"}, "currency"),
        ({"hours": 0}, "hours"),
        ({"hours": "1.5"}, "hours"),
        ({"hours": 5000}, "hours"),  # above the call's longest time
        ({"confidence": "1.5"}, "confidence"),
        ({"confidence": "-0.1"}, "confidence"),
        ({"confidence": "0.8888"}, "confidence"),
    ],
)
def test_malformed_bids_are_refused_with_the_field_named(
    values, field, aurelia, ada, django_capture_on_commit_callbacks
):
    agent = make_agent(aurelia, ada, "Aurelia manual")
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)
    events = AuditEvent.objects.count()
    fields = {"price": "100", "currency": "EUR", "hours": 10, "confidence": "0.5", **values}
    with institution_scope(aurelia), pytest.raises(ValidationFailed) as caught:
        services.bid_submit(announcement=announcement, agent=agent, actor=ada, **fields)
    assert field in caught.value.extra["errors"]
    assert not bids(announcement) and AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"weights": {"price": 0, "time": 0, "confidence": 0}}, "weights"),
        ({"weights": {"price": 1}}, "weights"),
        ({"task_type": "Not a task"}, "task_type"),
        ({"currency": "euro"}, "currency"),
        ({"bidding_deadline": "yesterday"}, "bidding_deadline"),
        ({"max_price": "-5"}, "max_price"),
        ({"specification": {"blob": "x" * 20_000}}, "specification"),
        ({"invited": ["not a did"]}, "invited"),
    ],
)
def test_a_bad_call_is_refused_and_nothing_is_sent(overrides, field, aurelia, ada, django_capture_on_commit_callbacks):
    with pytest.raises(ValidationFailed) as caught:
        announce(aurelia, ada, django_capture_on_commit_callbacks, **overrides)
    assert field in caught.value.extra["errors"]
    assert not Announcement.all_institutions.exists() and not OutboxEnvelope.all_institutions.exists()


def test_a_past_deadline_is_refused(aurelia, ada, django_capture_on_commit_callbacks):
    with pytest.raises(ValidationFailed) as caught:
        announce(aurelia, ada, django_capture_on_commit_callbacks, bidding_deadline=timezone.now() - timedelta(hours=1))
    assert "bidding_deadline" in caught.value.extra["errors"]


def test_a_suspended_agent_cannot_bid_nor_win(aurelia, ada, local_agent, django_capture_on_commit_callbacks):
    from apps.agents.services import agent_suspend

    runner_up = make_agent(aurelia, ada, "Aurelia dear", bidding={**POLICY, "price": "19000.00"})
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)
    assert len(bids(announcement)) == 2
    with institution_scope(aurelia):
        agent_suspend(agent=local_agent, actor=ada, reason="Misbehaving")
    local_agent.refresh_from_db()
    late = make_agent(aurelia, ada, "Aurelia late")
    with institution_scope(aurelia):
        agent_suspend(agent=late, actor=ada, reason="Kill switch")
    late.refresh_from_db()
    with institution_scope(aurelia), pytest.raises(services.AgentInactive):
        services.bid_submit(
            announcement=announcement, agent=late, price="1", currency="EUR", hours=1, confidence="1", actor=ada
        )
    close_bidding(announcement)
    announcement = award(announcement, ada, django_capture_on_commit_callbacks)
    suspended, dear = sorted(bids(announcement), key=lambda b: b.agent_id != local_agent.pk)
    assert suspended.outcome == BidOutcome.EXCLUDED and suspended.score is None and suspended.note
    assert dear.agent_id == runner_up.pk and dear.outcome == BidOutcome.WON
    assert announcement.award_reasoning["excluded"][0]["agent"] == local_agent.did


def test_reputation_changes_the_winner_of_an_award(aurelia, ada, django_capture_on_commit_callbacks):
    cheap = make_agent(aurelia, ada, "Cheap", bidding={**POLICY, "price": "10000.00"})
    trusted = make_agent(aurelia, ada, "Trusted", bidding={**POLICY, "price": "11000.00"})
    first = announce(aurelia, ada, django_capture_on_commit_callbacks)
    close_bidding(first)
    first = award(first, ada, django_capture_on_commit_callbacks)
    assert Bid.all_institutions.get(announcement=first, outcome=BidOutcome.WON).agent_id == cheap.pk

    # the latest snapshot trusts "Trusted" three times as much as "Cheap"
    with institution_scope(aurelia):
        old = ReputationSnapshot.objects.create(institution=aurelia, trigger="test")
        AgentReputation.objects.create(institution=aurelia, snapshot=old, agent=cheap, score=0.9, rank=1)
        AgentReputation.objects.create(institution=aurelia, snapshot=old, agent=trusted, score=0.1, rank=2)
        latest = ReputationSnapshot.objects.create(institution=aurelia, trigger="test")
        AgentReputation.objects.create(institution=aurelia, snapshot=latest, agent=trusted, score=0.75, rank=1)
        AgentReputation.objects.create(institution=aurelia, snapshot=latest, agent=cheap, score=0.25, rank=2)
    second = announce(aurelia, ada, django_capture_on_commit_callbacks, title="Second round")
    close_bidding(second)
    second = award(second, ada, django_capture_on_commit_callbacks)
    won = Bid.all_institutions.get(announcement=second, outcome=BidOutcome.WON)
    assert won.agent_id == trusted.pk and won.reputation_weight == pytest.approx(1.5)
    assert second.award_reasoning["reputation_snapshot"] == latest.pk


def test_no_acceptable_bid_fails_the_call(aurelia, ada, django_capture_on_commit_callbacks):
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)
    close_bidding(announcement)
    announcement = award(announcement, ada, django_capture_on_commit_callbacks)
    assert announcement.status == AnnouncementStatus.FAILED
    assert not Contract.all_institutions.exists()
    assert "agents.negotiation.fail" in actions(aurelia)


def test_the_award_task_waits_for_the_deadline_and_runs_once(
    aurelia, ada, local_agent, django_capture_on_commit_callbacks
):
    from apps.agents.negotiation.tasks import announcement_award_task, announcements_award_due_task

    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)  # its timed award ran early: no-op
    assert announcement.status == AnnouncementStatus.OPEN
    assert announcement_award_task(announcement_id=announcement.pk, institution_id=aurelia.pk) == "open"
    close_bidding(announcement)
    with django_capture_on_commit_callbacks(execute=True):
        assert announcements_award_due_task() == 1
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.AWARDED
    assert announcement_award_task(announcement_id=announcement.pk, institution_id=aurelia.pk) == "decided"
    assert AuditEvent.objects.filter(action="agents.negotiation.award").count() == 1


def test_a_policy_that_does_not_fit_the_call_places_no_bid(aurelia, ada, django_capture_on_commit_callbacks):
    make_agent(aurelia, ada, "Dollar agent", bidding={**POLICY, "currency": "USD"})
    make_agent(aurelia, ada, "Other tasks", bidding={**POLICY, "task_types": ["services.cleaning"]})
    make_agent(aurelia, ada, "Draft agent", bidding=POLICY, certified=False)
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)
    assert not bids(announcement)


def test_cancelling_tells_the_invited_institutions(
    aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks
):
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        services.announcement_cancel(announcement=announcement, actor=ada, reason="Budget withdrawn")
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.CANCELLED
    assert ReceivedCall.all_institutions.get(institution=borealis).status == ReceivedCallStatus.CANCELLED
    with institution_scope(aurelia), pytest.raises(ApplicationError):
        services.announcement_cancel(announcement=announcement, actor=ada, reason="Again")


# --- who may do what ----------------------------------------------------------------------


def test_only_administrators_announce_award_and_sign(
    aurelia, ada, alice, bob, local_agent, django_capture_on_commit_callbacks
):
    for person in (alice, bob):
        with institution_scope(aurelia), pytest.raises(PermissionDenied):
            services.announcement_create(
                institution=aurelia,
                actor=person,
                task_type=TASK,
                title="Nope",
                weights=WEIGHTS,
                currency="EUR",
                bidding_deadline=timezone.now() + timedelta(days=1),
            )
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)
    close_bidding(announcement)
    events = AuditEvent.objects.count()
    for person in (alice, bob):
        with institution_scope(aurelia), pytest.raises(PermissionDenied):
            services.announcement_award(announcement=announcement, actor=person)
        with institution_scope(aurelia), pytest.raises(PermissionDenied):
            services.bid_submit(
                announcement=announcement,
                agent=local_agent,
                price="1",
                currency="EUR",
                hours=1,
                confidence="1",
                actor=person,
            )
    assert AuditEvent.objects.count() == events
    announcement = award(announcement, ada, django_capture_on_commit_callbacks)
    contract = Contract.all_institutions.get(announcement=announcement)
    for person in (alice, bob):
        with institution_scope(aurelia), pytest.raises(PermissionDenied):
            services.contract_sign(contract=contract, actor=person, confirm=True)
    with institution_scope(aurelia), pytest.raises(PermissionDenied):
        services.contract_sign(contract=contract, actor=None, confirm=True)  # a person signs, not the system
    with institution_scope(aurelia), pytest.raises(ValidationFailed):
        services.contract_sign(contract=contract, actor=ada, confirm=False)
    contract.refresh_from_db()
    assert contract.status == ContractStatus.DRAFT and not contract.signature


def test_an_agent_bids_only_for_itself(aurelia, ada, local_agent, django_capture_on_commit_callbacks):
    other = make_agent(aurelia, ada, "Other")
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)
    with institution_scope(aurelia), pytest.raises(PermissionDenied):
        services.bid_submit(
            announcement=announcement,
            agent=other,
            price="1",
            currency="EUR",
            hours=1,
            confidence="1",
            actor=local_agent,
        )


def test_an_agent_of_another_institution_cannot_bid_locally(
    aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks
):
    stranger = make_agent(borealis, beatrice, "Stranger")
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)
    with institution_scope(aurelia), pytest.raises(PermissionDenied):
        services.bid_submit(
            announcement=announcement, agent=stranger, price="1", currency="EUR", hours=1, confidence="1", actor=ada
        )
    assert not bids(announcement)


# --- the API ------------------------------------------------------------------------------

API = "/api/v1/institutions/{slug}/agents/negotiations/"


def _api_body(**overrides):
    return {
        "task_type": TASK,
        "title": "Lift maintenance",
        "description": "",
        "specification": {"lifts": 3},
        "weights": {"price": 5, "time": 3, "confidence": 2},
        "currency": "EUR",
        "max_price": "20000.00",
        "bidding_deadline": (timezone.now() + timedelta(days=3)).isoformat(),
        "invited": [],
        **overrides,
    }


def test_the_protocol_over_the_api(aurelia, borealis, ada, beatrice, alice, bob, django_capture_on_commit_callbacks):
    local = make_agent(aurelia, ada, "Aurelia manual")
    remote = make_agent(borealis, beatrice, "Borealis manual")
    base = API.format(slug="aurelia")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(ada).post(base, _api_body(invited=[borealis.did]), format="json")
    assert response.status_code == 201, response.json()
    uid = response.json()["uid"]
    assert response.json()["weights"] == {"price": 0.5, "time": 0.3, "confidence": 0.2}

    # Borealis' administrator sees the invitation and bids with its agent, by envelope
    incoming = API.format(slug="borealis") + "incoming/"
    listed = api_as(beatrice).get(incoming).json()["results"]
    assert [c["call_uid"] for c in listed] == [uid]
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(beatrice).post(
            f"{incoming}{uid}/bids/",
            {"agent": str(remote.uid), "price": "9000.00", "currency": "EUR", "hours": 300, "confidence": "0.800"},
            format="json",
        )
    assert response.status_code == 201, response.json()
    assert response.json()["delivery"]["status"] == "pending"  # it leaves after the commit
    sent_bids = api_as(beatrice).get(f"{incoming}{uid}/").json()["sent_bids"]
    assert [b["delivery"]["status"] for b in sent_bids] == ["delivered"]

    # Aurelia's administrator bids for its own agent
    response = api_as(ada).post(
        f"{base}{uid}/bids/",
        {"agent": str(local.uid), "price": "9500.00", "currency": "EUR", "hours": 200, "confidence": "0.900"},
        format="json",
    )
    assert response.status_code == 201, response.json()

    # the award waits for the deadline, and only administrators make it
    response = api_as(ada).post(f"{base}{uid}/award/")
    assert response.status_code == 409 and response.json()["code"] == "bidding_open"
    close_bidding(Announcement.all_institutions.get(uid=uid))
    for person in (alice, bob):
        response = api_as(person).post(f"{base}{uid}/award/")
        assert response.status_code == 403 and response["Content-Type"].startswith("application/problem+json")
    assert Announcement.all_institutions.get(uid=uid).status == AnnouncementStatus.OPEN
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(ada).post(f"{base}{uid}/award/")
    assert response.status_code == 200
    detail = response.json()
    assert detail["status"] == "awarded" and [b["rank"] for b in detail["bids"]] == [1, 2]
    assert detail["award_reasoning"]["winner"] in {local.did, remote.did}

    # the contract: readable by staff, signed only by an administrator who confirms
    contract_url = f"{base}{uid}/contract/"
    assert api_as(alice).get(contract_url).json()["status"] == "draft"
    assert api_as(bob).get(contract_url).status_code == 403
    for person in (alice, bob):
        assert api_as(person).post(contract_url + "sign/", {"confirm": True}, format="json").status_code == 403
    response = api_as(ada).post(contract_url + "sign/", {"confirm": False}, format="json")
    assert response.status_code == 400 and "confirm" in response.json()["errors"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(ada).post(contract_url + "sign/", {"confirm": True}, format="json")
    assert response.status_code == 200
    signed = response.json()
    assert signed["status"] == "signed" and signed["signer"] == "ada" and signed["signature_valid"] is True
    response = api_as(ada).post(contract_url + "sign/", {"confirm": True}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"


def test_api_errors_are_problem_documents_and_change_nothing(aurelia, ada, bob, django_capture_on_commit_callbacks):
    base = API.format(slug="aurelia")
    events = AuditEvent.objects.count()
    response = api_as(ada).post(base, _api_body(weights={"price": 0, "time": 0, "confidence": 0}), format="json")
    assert response.status_code == 400 and response.json()["code"] == "validation_failed"
    assert "weights" in response.json()["errors"]
    assert api_as(bob).get(base).status_code == 403
    assert api_as(bob).post(base, _api_body(), format="json").status_code == 403
    assert not Announcement.all_institutions.exists()
    assert AuditEvent.objects.exclude(action__startswith="identity.").count() == events


def test_the_list_endpoint_has_a_fixed_number_of_queries(
    aurelia, ada, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    for n in range(3):
        announce(aurelia, ada, django_capture_on_commit_callbacks, title=f"Call {n}")
    with django_assert_max_num_queries(12):
        response = api_as(ada).get(API.format(slug="aurelia"))
    assert response.status_code == 200 and response.json()["count"] == 3


# --- the pages ----------------------------------------------------------------------------

PAGES = "/i/{slug}/agents/negotiations/"


def test_the_pages_take_an_administrator_through_the_protocol(
    client, aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks
):
    local = make_agent(aurelia, ada, "Aurelia manual")
    remote = make_agent(borealis, beatrice, "Borealis manual")
    client.force_login(ada)
    base = PAGES.format(slug="aurelia")
    assert client.get(base).status_code == 200
    assert client.get(base + "new/").status_code == 200
    deadline = timezone.localtime(timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "title": "Lift maintenance",
        "task_type": TASK,
        "description": "Quarterly",
        "specification": '{"lifts": 3}',
        "weight_price": "50",
        "weight_time": "30",
        "weight_confidence": "20",
        "currency": "EUR",
        "max_price": "",
        "max_hours": "",
        "bidding_deadline": deadline,
        "invited": [borealis.did],
        "other_invited": "",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(base + "new/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    announcement = Announcement.all_institutions.get()
    detail = f"{base}{announcement.uid}/"
    page = client.get(detail)
    assert page.status_code == 200 and "Aurelia manual" in page.content.decode()
    response = client.post(
        detail + "bid/",
        {"agent": str(local.uid), "price": "9000", "currency": "EUR", "hours": "100", "confidence": "0.9"},
    )
    assert response.status_code == 302
    bad = client.post(
        detail + "bid/",
        {"agent": str(local.uid), "price": "9000", "currency": "EUR", "hours": "100", "confidence": "0.9"},
    )
    assert bad.status_code == 409 and "already bid" in bad.content.decode()

    # Borealis' administrator bids from the invitation's page
    client.force_login(beatrice)
    incoming = f"{PAGES.format(slug='borealis')}incoming/{announcement.uid}/"
    assert client.get(incoming).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            incoming,
            {"agent": str(remote.uid), "price": "9500", "currency": "EUR", "hours": "80", "confidence": "0.95"},
        )
    assert response.status_code == 302
    assert "Accepted by the announcer" in client.get(incoming).content.decode()

    client.force_login(ada)
    close_bidding(announcement)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(detail + "award/").status_code == 302
    page = client.get(detail).content.decode()
    assert "Won" in page and "contract awaits a signature" in page
    contract_page = detail + "contract/"
    assert client.get(contract_page).status_code == 200
    assert client.post(contract_page, {}).status_code == 400  # not confirmed
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(contract_page, {"confirm": "on"}).status_code == 302
    assert "The signature verifies" in client.get(contract_page).content.decode()


def test_citizens_and_civil_servants_cannot_act_on_the_pages(
    client, aurelia, ada, alice, bob, local_agent, django_capture_on_commit_callbacks
):
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)
    close_bidding(announcement)
    detail = f"{PAGES.format(slug='aurelia')}{announcement.uid}/"
    client.force_login(bob)
    assert client.get(PAGES.format(slug="aurelia")).status_code == 403
    assert client.get(detail).status_code == 403
    client.force_login(alice)
    assert client.get(detail).status_code == 200
    assert client.post(detail + "award/").status_code == 403
    assert client.get(PAGES.format(slug="aurelia") + "new/").status_code == 403
    announcement.refresh_from_db()
    assert announcement.status == AnnouncementStatus.OPEN
    award(announcement, ada, django_capture_on_commit_callbacks)
    assert client.post(detail + "contract/", {"confirm": "on"}).status_code == 403
    assert Contract.all_institutions.get().status == ContractStatus.DRAFT


# --- the demo -----------------------------------------------------------------------------


def test_the_demo_leaves_a_contract_awaiting_a_signature_and_runs_once(aurelia, django_capture_on_commit_callbacks):
    from io import StringIO

    from apps.agents.negotiation import demo
    from apps.tenancy.management.commands.seed_demo import DemoFederation
    from apps.trust import services as trust_services
    from apps.trust.models import ActType

    nordwind = InstitutionFactory(name="Nordwind Energy", slug="nordwind")
    ministry = InstitutionFactory(name="Ministry of the Interior", slug="ministry-interior")
    people = {
        "adrian": (aurelia, "adrian"),
        "nils": (nordwind, "nils"),
        "ines": (ministry, "ines"),
    }
    federation = DemoFederation(
        institutions={"aurelia": aurelia, "nordwind": nordwind, "ministry-interior": ministry},
        users={
            name: member(UserFactory(username=username), institution, Role.INSTITUTION_ADMIN)
            for name, (institution, username) in people.items()
        },
    )
    trust_services.threshold_policy_create(
        name="Certification of agents", act_type=ActType.CERTIFY_AGENT, k=2, authorities=[aurelia, ministry]
    )
    with django_capture_on_commit_callbacks(execute=True):
        demo.seed_demo(federation=federation, stdout=StringIO())
    announcement = Announcement.all_institutions.get(institution=aurelia)
    assert announcement.status == AnnouncementStatus.AWARDED
    assert {b.source for b in bids(announcement)} == {BidSource.LOCAL, BidSource.ENVELOPE}
    contract = Contract.all_institutions.get(announcement=announcement)
    assert contract.status == ContractStatus.DRAFT
    assert ReceivedCall.all_institutions.get(institution=nordwind).status in {
        ReceivedCallStatus.AWARDED,
        ReceivedCallStatus.NOT_WON,
    }
    events = AuditEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        demo.seed_demo(federation=federation, stdout=StringIO())
    assert Announcement.all_institutions.count() == 1 and AuditEvent.objects.count() == events


def test_another_institution_gets_404_on_every_negotiation_route_and_nothing_changes(
    client, aurelia, borealis, ada, beatrice, charlie, local_agent, django_capture_on_commit_callbacks
):
    """Charlie (Borealis) on Aurelia's calls, contract and received call: 404, API and pages alike."""
    from apps.agents.negotiation.testing import sweep_received_call

    other = InstitutionFactory(name="City of Caldera", slug="caldera")
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks)
    close_bidding(announcement)
    award(announcement, ada, django_capture_on_commit_callbacks)

    class World:
        pass

    world = World()
    world.aurelia, world.borealis = aurelia, other
    received = sweep_received_call(world)
    uid, call_uid = announcement.uid, received.call_uid
    pages = "/i/aurelia/agents/negotiations/"
    api = API.format(slug="aurelia")
    paths = [
        pages,
        pages + "new/",
        f"{pages}{uid}/",
        f"{pages}{uid}/bid/",
        f"{pages}{uid}/award/",
        f"{pages}{uid}/cancel/",
        f"{pages}{uid}/contract/",
        f"{pages}incoming/{call_uid}/",
        api,
        f"{api}{uid}/",
        f"{api}{uid}/bids/",
        f"{api}{uid}/award/",
        f"{api}{uid}/cancel/",
        f"{api}{uid}/contract/",
        f"{api}{uid}/contract/sign/",
        f"{api}incoming/",
        f"{api}incoming/{call_uid}/",
        f"{api}incoming/{call_uid}/bids/",
    ]
    before = (
        AuditEvent.objects.exclude(action__startswith="identity.").count(),
        list(Announcement.all_institutions.values_list("status", flat=True)),
        list(Contract.all_institutions.values_list("status", flat=True)),
        Bid.all_institutions.count(),
        SentBid.all_institutions.count(),
    )
    client.force_login(charlie)
    for path in paths:
        for method in ("get", "post"):
            body = {"confirm": True, "reason": "x", "agent": str(local_agent.uid), "price": "1", "hours": 1}
            response = getattr(client, method)(path, data=body, content_type="application/json")
            assert response.status_code == 404, (method, path, response.status_code)
    after = (
        AuditEvent.objects.exclude(action__startswith="identity.").count(),
        list(Announcement.all_institutions.values_list("status", flat=True)),
        list(Contract.all_institutions.values_list("status", flat=True)),
        Bid.all_institutions.count(),
        SentBid.all_institutions.count(),
    )
    assert after == before


def test_a_bid_the_announcer_refuses_shows_why_on_the_bidders_side(
    aurelia, borealis, ada, beatrice, django_capture_on_commit_callbacks
):
    from apps.agents.negotiation import selectors

    agent = make_agent(borealis, beatrice, "Borealis manual")
    announcement = announce(aurelia, ada, django_capture_on_commit_callbacks, invited=[borealis.did])
    with institution_scope(aurelia):  # its envelope to Borealis is still on the way
        services.announcement_cancel(announcement=announcement, actor=ada, reason="Budget withdrawn")
    call = ReceivedCall.all_institutions.get(institution=borealis)
    with institution_scope(borealis), django_capture_on_commit_callbacks(execute=True):
        sent = services.call_bid_send(
            call=call, agent=agent, price="100", currency="EUR", hours=10, confidence="0.5", actor=beatrice
        )
    with institution_scope(borealis):
        delivery = selectors.sent_bid_delivery(institution=borealis, sent=sent)
    assert delivery["status"] == OutboxStatus.FAILED and "bidding_closed" in delivery["detail"]
    assert not bids(announcement)


def test_the_list_page_has_a_fixed_number_of_queries(
    client, aurelia, ada, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    for n in range(4):
        announce(aurelia, ada, django_capture_on_commit_callbacks, title=f"Call {n}")
    client.force_login(ada)
    with django_assert_max_num_queries(20):
        response = client.get(PAGES.format(slug="aurelia"))
    assert response.status_code == 200 and response.content.decode().count("Call ") >= 4

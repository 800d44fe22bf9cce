"""Demo of the contract net: agents negotiating a service contract, with a person to sign it.

The City of Aurelia announces an energy-efficiency service contract and invites Nordwind
Energy. Aurelia's in-house planner bids locally; Nordwind's energy-services agent bids from
its policy through signed envelopes. The call is awarded and its contract awaits Adrian's
signature (Aurelia's administrator). Called from apps/agents/demo.py; idempotent.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.agents import services as agent_services
from apps.agents.models import Agent, AgentStatus
from apps.agents.negotiation import services
from apps.agents.negotiation.models import Announcement, ReceivedCall
from apps.tenancy.scope import institution_scope
from apps.trust import services as trust_services
from portal.errors import ApplicationError

TASK = "services.energy_audit"
TITLE = "Energy-efficiency audit of twelve municipal buildings"

AGENTS = {
    "aurelia": {
        "name": "Facilities energy planner",
        "purpose": "Plans energy-efficiency work on the city's buildings and bids for it when the city "
        "compares doing the work in house with buying it.",
        "capabilities": [TASK],
        "engine": "rules",
        "config": {
            "rules": [],
            "default_decision": "plan",
            "bidding": {"price": "48000.00", "currency": "EUR", "hours": 1200, "confidence": 0.8},
        },
    },
    "nordwind": {
        "name": "Nordwind energy services",
        "purpose": "Offers Nordwind Energy's audit and retrofit services to public institutions, "
        "bidding from the company's published price list.",
        "capabilities": [TASK, "services.retrofit"],
        "engine": "rules",
        "config": {
            "rules": [],
            "default_decision": "offer",
            "bidding": {"price": "42000.00", "currency": "EUR", "hours": 900, "confidence": 0.9},
        },
    },
}


def seed_demo(*, federation, stdout) -> None:
    aurelia, nordwind = federation.institutions.get("aurelia"), federation.institutions.get("nordwind")
    adrian, nils = federation.users.get("adrian"), federation.users.get("nils")
    if None in (aurelia, nordwind, adrian, nils):
        return
    # tenancy: the demo looks for its call across its own two institutions only
    if Announcement.all_institutions.filter(institution=aurelia, title=TITLE).exists():
        return
    planner = _certified_agent(aurelia, adrian, AGENTS["aurelia"], federation=federation)
    seller = _certified_agent(nordwind, nils, AGENTS["nordwind"], federation=federation)
    if planner is None or seller is None:
        stdout.write("Negotiation demo skipped: its agents could not be certified (no certification policy).")
        return
    with institution_scope(aurelia):
        announcement = services.announcement_create(
            institution=aurelia,
            actor=adrian,
            task_type=TASK,
            title=TITLE,
            description="A walk-through audit of twelve buildings with a costed retrofit plan for each, "
            "delivered as one report per building.",
            specification={"buildings": 12, "deliverable": "report per building", "standard": "EN 16247-2"},
            weights={"price": 0.5, "time": 0.2, "confidence": 0.3},
            currency="EUR",
            max_price="60000.00",
            max_hours=2000,
            bidding_deadline=timezone.now() + timedelta(minutes=5),
            invited=[nordwind.did],
        )
        # the bidding policies, as the tasks would run them (the demo does not wait for a worker)
        services.announcement_autobid(announcement=announcement)
    _deliver_pending(aurelia)
    with institution_scope(nordwind):
        call = ReceivedCall.objects.get(call_uid=announcement.uid)
        services.received_call_autobid(call=call)
    _deliver_pending(nordwind)
    # demo shortcut: bidding closes now rather than in five minutes, so the award can be shown
    Announcement.all_institutions.filter(pk=announcement.pk).update(bidding_deadline=timezone.now())
    announcement.refresh_from_db()
    with institution_scope(aurelia):
        services.announcement_award(announcement=announcement, actor=adrian)
    _deliver_pending(aurelia)
    stdout.write(
        "Negotiation: Aurelia's energy-audit contract, bid on by Aurelia's planner and by Nordwind's agent "
        "(through envelopes), is awarded; the contract awaits Adrian's signature."
    )


def _deliver_pending(institution) -> None:
    """Hand over the institution's pending envelopes now (normally right after each commit;
    done here as well so the demo does not depend on when commit hooks run). Idempotent."""
    from apps.federation.models import OutboxStatus
    from apps.federation.selectors import outbox_for
    from apps.federation.services import outbox_deliver

    with institution_scope(institution):
        pending = list(outbox_for(institution=institution).filter(status=OutboxStatus.PENDING))
    for envelope in pending:
        outbox_deliver(envelope_id=str(envelope.envelope_id))


def _certified_agent(institution, admin, spec, *, federation) -> Agent | None:
    """The institution's demo agent, certified through the "certify_agent" threshold approval."""
    with institution_scope(institution):
        agent = Agent.objects.filter(name=spec["name"]).first()
        if agent is None:
            agent = agent_services.agent_register(institution=institution, actor=admin, **spec)
        if agent.status == AgentStatus.CERTIFIED:
            return agent
        try:
            proposal = agent_services.agent_certification_propose(agent=agent, actor=admin)
        except ApplicationError:  # no certification policy, or a proposal already open: the demo goes without
            return None
    for slug, username in (("aurelia", "adrian"), ("ministry-interior", "ines")):
        authority, person = federation.institutions.get(slug), federation.users.get(username)
        if authority is None or person is None:
            continue
        with institution_scope(authority):
            trust_services.threshold_proposal_sign(proposal=proposal, authority=authority, actor=person)
    agent.refresh_from_db()
    return agent if agent.status == AgentStatus.CERTIFIED else None

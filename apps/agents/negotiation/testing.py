"""Aurelia's contract-net objects for the cross-institution sweep (tests/test_cross_institution.py).

Made on first use and kept on the sweep's world, so every route sees the same objects."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.utils import timezone

from apps.agents.models import Agent, AgentStatus
from apps.agents.negotiation import services
from apps.agents.negotiation.models import Announcement
from apps.tenancy.scope import institution_scope

TASK = "services.maintenance"


def sweep_announcement(world):
    """An awarded call of Aurelia with a local bid and a contract draft."""
    if "negotiation" not in world.__dict__:
        from apps.agents.services import agent_register

        with institution_scope(world.aurelia):
            agent = agent_register(
                institution=world.aurelia,
                actor=world.ada,
                name="Sweep bidder",
                purpose="Sweep",
                capabilities=[TASK],
                engine="rules",
            )
            Agent.all_institutions.filter(pk=agent.pk).update(status=AgentStatus.CERTIFIED)
            agent.refresh_from_db()
            announcement = services.announcement_create(
                institution=world.aurelia,
                actor=world.ada,
                task_type=TASK,
                title="Sweep call",
                weights={"price": 1, "time": 1, "confidence": 1},
                currency="EUR",
                bidding_deadline=timezone.now() + timedelta(days=1),
            )
            services.bid_submit(
                announcement=announcement,
                agent=agent,
                price="100",
                currency="EUR",
                hours=10,
                confidence="0.9",
                actor=world.ada,
            )
            # fixture shortcut: the deadline passes
            Announcement.all_institutions.filter(pk=announcement.pk).update(
                bidding_deadline=timezone.now() - timedelta(seconds=1)
            )
            announcement.refresh_from_db()
            world.__dict__["negotiation"] = services.announcement_award(announcement=announcement, actor=world.ada)
    return world.__dict__["negotiation"]


def sweep_received_call(world):
    """A call Borealis invited Aurelia to, received through a signed envelope."""
    if "received_call" not in world.__dict__:
        from apps.federation.services import envelope_receive
        from apps.federation.tests.helpers import raw, signed_document

        body = {
            "call": str(uuid.uuid4()),
            "announcer_name": world.borealis.name,
            "task_type": TASK,
            "title": "Sweep invitation",
            "description": "",
            "specification": {},
            "weights": {"price": 1, "time": 1, "confidence": 1},
            "currency": "EUR",
            "max_price": None,
            "max_hours": None,
            "bidding_deadline": (timezone.now() + timedelta(days=1)).isoformat(),
        }
        document = signed_document(sender=world.borealis, recipient_did=world.aurelia.did, type="agents.cfp", body=body)
        envelope_receive(raw=raw(document))
        from apps.agents.negotiation.models import ReceivedCall

        world.__dict__["received_call"] = ReceivedCall.all_institutions.get(
            institution=world.aurelia, call_uid=body["call"]
        )
    return world.__dict__["received_call"]

"""Aurelia's envelopes for the cross-institution sweep (tests/test_cross_institution.py).

Made on first use and kept on the sweep's world, so every route sees the same objects."""

from __future__ import annotations

from apps.federation.services import envelope_receive, envelope_send
from apps.federation.tests.helpers import raw, signed_document
from apps.tenancy.scope import institution_scope


def outbox_envelope(world):
    if not hasattr(world, "federation_outbox"):
        with institution_scope(world.aurelia):
            world.federation_outbox = envelope_send(
                sender=world.aurelia,
                recipient_did=world.borealis.did,
                type="federation.ping",
                body={"message": "sweep"},
                actor=world.ada,
            )
    return world.federation_outbox


def inbox_envelope(world):
    if not hasattr(world, "federation_inbox"):
        document = signed_document(sender=world.borealis, recipient_did=world.aurelia.did)
        world.federation_inbox = envelope_receive(raw=raw(document)).envelope
    return world.federation_inbox

"""Demo data of the federation app: the Ministry has pinged the City of Aurelia (delivered in-process)."""

from __future__ import annotations

from apps.federation import selectors, services
from apps.tenancy.scope import institution_scope


def seed_demo(*, federation, stdout) -> None:
    """Idempotent: sends the ping only when the Ministry's outbox has none for Aurelia."""
    ministry, aurelia = federation.institutions.get("ministry-interior"), federation.institutions.get("aurelia")
    admin = federation.users.get("ines")
    if ministry is None or aurelia is None or admin is None or not aurelia.did:
        return
    with institution_scope(ministry):
        if (
            selectors.outbox_for(institution=ministry)
            .filter(type="federation.ping", recipient_did=aurelia.did)
            .exists()
        ):
            return
        services.ping_send(
            sender=ministry,
            recipient_did=aurelia.did,
            message="Welcome to the federation: this signed envelope travelled the same path a peer node's would.",
            actor=admin,
        )
    stdout.write("Federation: the Ministry pinged the City of Aurelia; see /i/aurelia/federation/inbox/.")

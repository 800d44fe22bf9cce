"""Who may see an institution's envelopes (its administrators and auditors) and send pings (administrators)."""

from __future__ import annotations

from collections.abc import Iterable

from apps.tenancy.models import Role

ENVELOPE_READERS = frozenset({Role.INSTITUTION_ADMIN, Role.AUDITOR})
ENVELOPE_SENDERS = frozenset({Role.INSTITUTION_ADMIN})


def can_read_envelopes(*, roles: Iterable[str]) -> bool:
    return bool(ENVELOPE_READERS & set(roles))


def can_send_ping(*, roles: Iterable[str]) -> bool:
    return bool(ENVELOPE_SENDERS & set(roles))

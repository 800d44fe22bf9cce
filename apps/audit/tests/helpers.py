"""Helpers shared by the audit tests: record events, sequence them, sign tree heads."""

from __future__ import annotations

from django.db import transaction

from apps.audit.models import AuditEvent, SignedTreeHead
from apps.audit.services import audit_append, audit_sequence, audit_tree_head_sign


def record(institution, count: int, *, action: str = "test.event", actor=None, **fields) -> list[AuditEvent]:
    """Append `count` events, each in its own transaction like a domain write."""
    events = []
    for i in range(count):
        with transaction.atomic():
            events.append(audit_append(institution=institution, actor=actor, action=action, changes={"i": i}, **fields))
    return events


def sequenced_log(institution, count: int, **kwargs) -> list[AuditEvent]:
    """`count` events with positions, in position order (other pending events are sequenced too)."""
    events = record(institution, count, **kwargs)
    audit_sequence()
    return list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("sequence"))


def sign() -> SignedTreeHead:
    """Sequence what is pending and sign a tree head, even if one exists at this size."""
    return audit_tree_head_sign(force=True)

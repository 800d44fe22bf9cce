"""Helpers shared by the audit tests: record events, sequence them, sign tree heads."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.audit.services import audit_append, audit_sequence, audit_tree_head_sign
from portal.celery import app as celery_app


@pytest.fixture(autouse=True)
def _celery_eager():
    """The sequencer runs on commit, in the test's thread, as the suite's settings intend.

    The root conftest sets CIVITAS_TESTING after pytest-django has already imported the
    settings, so CELERY_TASK_ALWAYS_EAGER may still be off; set it on the app itself."""
    before = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


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


def sign() -> object:
    return audit_tree_head_sign(force=True)

"""A real Celery worker consumes from the configured broker (filesystem or Redis)."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.audit.services import audit_append
from apps.audit.tasks import audit_sequence_task
from portal.celery import app


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_sequencer_from_the_broker(settings, aurelia):
    app.conf.task_always_eager = False
    try:
        with transaction.atomic():
            audit_append(institution=aurelia, actor=None, action="tests.worker", target=aurelia)
        # The eager on-commit hook is off here, so the events wait for the worker.
        assert AuditEvent.objects.filter(sequence__isnull=True).exists()
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            audit_sequence_task.apply_async()
            _wait_sequenced()
    finally:
        app.conf.task_always_eager = True
    assert not AuditEvent.objects.filter(sequence__isnull=True).exists()
    # Running it again is harmless: nothing is pending, nothing changes.
    before = list(AuditEvent.objects.values_list("sequence", "leaf_hash"))
    audit_sequence_task.apply()
    assert list(AuditEvent.objects.values_list("sequence", "leaf_hash")) == before


def _wait_sequenced(timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not AuditEvent.objects.filter(sequence__isnull=True).exists():
            return
        time.sleep(0.2)
    raise AssertionError("the worker did not sequence the pending events in time")

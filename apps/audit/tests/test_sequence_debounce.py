"""A burst of commits queues one sequencing task, not one each."""

import pytest
from django.core.cache import cache
from django.db import transaction

from apps.audit import services, tasks
from apps.audit.services import audit_append

# real commits: inside a test transaction, on-commit callbacks pile up and hide the debounce
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_burst_of_commits_queues_one_sequencer(monkeypatch, aurelia):
    queued = []
    monkeypatch.setattr(tasks.audit_sequence_task, "delay", lambda: queued.append(1))
    for n in range(3):
        with transaction.atomic():
            audit_append(institution=aurelia, actor=None, action="test.burst", changes={"n": n})
    assert queued == [1]
    # the task clears the mark before it reads, so the next commit queues again
    tasks.audit_sequence_task.run()
    assert cache.get(services.SEQUENCE_PENDING_KEY) is None
    with transaction.atomic():
        audit_append(institution=aurelia, actor=None, action="test.burst", changes={"n": 3})
    assert queued == [1, 1]

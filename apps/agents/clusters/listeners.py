"""Who else wants to know when a cluster run finishes or takes a council's verdict.

A domain that started a run for its own case (permits, ...) registers a listener from its
AppConfig.ready(); the clusters service calls `run_changed` inside its transaction and each
listener runs after commit with ids only (it should queue a Celery task, not do the work).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from django.db import transaction

logger = logging.getLogger(__name__)

RunListener = Callable[..., None]  # listener(*, run_id, institution_id, event) with event "finished" or "verdict"

_LISTENERS: list[RunListener] = []


def register_run_listener(listener: RunListener) -> RunListener:
    """Idempotent: registering the same listener twice keeps one."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)
    return listener


def run_changed(*, run, event: str) -> None:
    """Tell every listener after commit; a failing listener is logged and does not stop the others."""
    for listener in list(_LISTENERS):
        transaction.on_commit(
            partial(listener, run_id=run.pk, institution_id=run.institution_id, event=event), robust=True
        )

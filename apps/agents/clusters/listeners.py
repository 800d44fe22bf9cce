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


# A domain whose case a run reviews owns the case's page: the person concerned is sent there
# to appeal (the domain's own appeal moves the case; an appeal of the run alone would not).
CasePage = Callable[..., str | None]  # case_page(*, run) -> the page of the case, or None if not this domain's

_CASE_PAGES: list[CasePage] = []


def register_case_page(resolver: CasePage) -> CasePage:
    if resolver not in _CASE_PAGES:
        _CASE_PAGES.append(resolver)
    return resolver


def case_page(*, run) -> str | None:
    """The page of the domain case this run reviews, if a domain claims it."""
    for resolver in _CASE_PAGES:
        url = resolver(run=run)
        if url:
            return url
    return None

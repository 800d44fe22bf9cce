"""Celery entry points of the BPM engine: ids in, idempotent, acks_late."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.tenancy.scope import institution_task
from portal.errors import Conflict


@shared_task(acks_late=True, autoretry_for=(OperationalError, Conflict), retry_backoff=True, max_retries=5)
@institution_task
def service_call_run_task(*, call_id: int, institution_id: int) -> str:
    """Run a service task's action; a call that is no longer pending is left alone."""
    from apps.bpm import services
    from apps.bpm.models import ServiceCall

    call = ServiceCall.objects.filter(pk=call_id).first()
    if call is None:
        return "gone"
    return services.service_call_run(call=call).status


@shared_task(acks_late=True, autoretry_for=(OperationalError, Conflict), retry_backoff=True, max_retries=5)
@institution_task
def cluster_run_changed_task(*, run_id: int, institution_id: int) -> int:
    """A cluster run finished or took a council's verdict: resume the service tasks waiting on it."""
    from apps.bpm import services

    return services.service_calls_resume_for_run(run_id=run_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError, Conflict), retry_backoff=True, max_retries=5)
@institution_task
def service_calls_wake_task(*, action: str, ref: str, institution_id: int) -> int:
    """What the calls of `action` waiting on `ref` wait for has changed (another app says so, after
    commit): resume those whose outcome is final."""
    from apps.bpm import services

    return services.service_calls_wake(action=action, ref=ref)


def cluster_run_listener(*, run_id: int, institution_id: int, event: str) -> None:
    """apps.agents' run listener (after commit): queue the resumption, ids only."""
    cluster_run_changed_task.delay(run_id=run_id, institution_id=institution_id)


@shared_task(acks_late=True)
def bpm_tick_task() -> dict:
    """Beat: fire due timers, and resume waiting calls whose outcome is final (a lost wake-up)."""
    from apps.bpm import services

    return {"timers_fired": services.timers_fire_due(), "calls_resumed": services.service_calls_poll()}

"""Celery entry points of learning from verdicts: ids in, idempotent.

Registered through `apps.agents.tasks`, where Celery's autodiscovery looks."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.tenancy.scope import institution_task


@shared_task(
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
@institution_task
def model_candidate_train_task(*, candidate_id: int, institution_id: int) -> str:
    """Train and evaluate a requested model candidate; returns its status (a finished one is left alone)."""
    from apps.agents.learning import services

    return services.model_candidate_train(candidate_id=candidate_id).status

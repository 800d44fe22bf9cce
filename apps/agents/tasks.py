"""Celery entry points of cluster runs: ids in, one stage per task, idempotent."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, transaction

from apps.tenancy.scope import institution_task


@shared_task(
    acks_late=True,
    soft_time_limit=120,
    time_limit=150,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
@institution_task
def cluster_stage(*, run_id: int, stage_index: int, institution_id: int) -> None:
    """Run one stage of a run, then queue the next one or the final step."""
    from apps.agents.clusters import services
    from apps.agents.models import ClusterRun

    run = ClusterRun.objects.get(pk=run_id)
    try:
        goes_on = services.cluster_stage_execute(run=run, stage_index=stage_index)
    except SoftTimeLimitExceeded:
        services.cluster_run_fail(run=run, error=f"Stage {stage_index + 1} took too long.")
        return
    except OperationalError:
        raise  # transient: retried, and the stage is idempotent
    except Exception as exc:
        # a permanent failure must not leave the run "running" for ever
        services.cluster_run_fail(run=run, error=f"Stage {stage_index + 1} failed: {type(exc).__name__}: {exc}")
        raise
    run.refresh_from_db()
    if run.finished:
        return
    if goes_on:
        transaction.on_commit(
            lambda: cluster_stage.delay(run_id=run_id, stage_index=run.progress, institution_id=institution_id)
        )
    else:
        transaction.on_commit(lambda: cluster_finalise.delay(run_id=run_id, institution_id=institution_id))


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, autoretry_for=(OperationalError,), max_retries=3)
@institution_task
def cluster_finalise(*, run_id: int, institution_id: int) -> None:
    from apps.agents.clusters import services
    from apps.agents.models import ClusterRun

    services.cluster_run_finalise(run=ClusterRun.objects.get(pk=run_id))


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360, autoretry_for=(OperationalError,), max_retries=3)
@institution_task
def reputation_recompute_task(*, institution_id: int, trigger: str = "new evidence") -> int | None:
    """Recompute the institution's reputation snapshot; returns its id, or None when nothing changed."""
    from apps.agents.reputation import services
    from apps.tenancy.models import Institution

    snapshot = services.reputation_recompute(institution=Institution.objects.get(pk=institution_id), trigger=trigger)
    return snapshot.pk if snapshot else None


@shared_task(acks_late=True)
def reputation_recompute_all_task() -> int:
    """Beat: queue a recomputation for every institution that has agents (certifications and
    retirements change pre-trust even when no new evidence came in)."""
    from apps.agents.models import Agent

    # tenancy: beat looks across institutions only to fan out one scoped task per institution
    ids = sorted(set(Agent.all_institutions.values_list("institution_id", flat=True)))
    for institution_id in ids:
        reputation_recompute_task.delay(institution_id=institution_id, trigger="schedule")
    return len(ids)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
@institution_task
def cluster_run_to_council_task(*, run_id: int, institution_id: int) -> int | None:
    """Put a flagged or sampled run before its council; returns the review item's id."""
    from apps.agents import review
    from apps.agents.models import ClusterRun

    item = review.submit_run_for_review(run=ClusterRun.objects.get(pk=run_id))
    return item.pk if item else None


from apps.agents.learning.tasks import model_candidate_train_task  # noqa: E402, F401  (autodiscovery looks here)

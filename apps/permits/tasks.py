"""Celery entry points of permits: ids in, idempotent, each calls one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.tenancy.scope import institution_task
from portal.errors import Conflict


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
@institution_task
def application_review_start_task(*, application_id: int, institution_id: int) -> None:
    from apps.permits import services
    from apps.permits.models import PermitApplication

    application = PermitApplication.objects.filter(pk=application_id).first()
    if application is not None:
        services.application_review_start(application=application)


@shared_task(acks_late=True, autoretry_for=(OperationalError, Conflict), retry_backoff=True, max_retries=3)
@institution_task
def application_process_start_task(*, application_id: int, institution_id: int) -> None:
    from apps.permits import services
    from apps.permits.models import PermitApplication

    application = PermitApplication.objects.filter(pk=application_id).first()
    if application is not None:
        services.application_process_start(application=application)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
@institution_task
def application_follow_run_task(*, run_id: int, institution_id: int) -> None:
    from apps.agents.models import ClusterRun
    from apps.permits import services

    run = ClusterRun.objects.filter(pk=run_id).first()
    if run is not None:
        services.application_follow_run(run=run)


def run_changed_listener(*, run_id: int, institution_id: int, event: str) -> None:
    """apps.agents calls this after a run finished or took a verdict; only runs that review an
    application or rate an inspection's risk are followed."""
    from apps.permits.models import Inspection, PermitApplication

    # tenancy: the run's institution, explicitly (called outside any request scope)
    if PermitApplication.all_institutions.filter(institution_id=institution_id, cluster_run_id=run_id).exists():
        application_follow_run_task.delay(run_id=run_id, institution_id=institution_id)
    # tenancy: as above
    if Inspection.all_institutions.filter(institution_id=institution_id, risk_run_id=run_id).exists():
        inspection_follow_risk_run_task.delay(run_id=run_id, institution_id=institution_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
@institution_task
def inspection_follow_risk_run_task(*, run_id: int, institution_id: int) -> None:
    from apps.agents.models import ClusterRun
    from apps.permits import inspections

    run = ClusterRun.objects.filter(pk=run_id).first()
    if run is not None:
        inspections.inspection_follow_risk_run(run=run)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def permits_expiry_task() -> tuple[int, int]:
    """Beat: expire permits past their end, remind holders of permits ending soon."""
    from apps.permits import services

    return services.permits_expiry_sweep()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def violations_overdue_task() -> int:
    """Beat: violations past their deadline become overdue; their active permits are suspended."""
    from apps.permits import inspections

    return inspections.violations_overdue_sweep()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def inspections_due_task() -> int:
    """Beat: schedule routine inspections of active permits with conditions and none open (bounded)."""
    from apps.permits import inspections

    return inspections.inspections_due_sweep()

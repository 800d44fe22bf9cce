"""Celery entry points of the trust app; each is idempotent and safe to run twice."""

from celery import shared_task

from apps.trust import services


@shared_task(acks_late=True, ignore_result=True)
def threshold_proposals_expire_task() -> int:
    return services.threshold_proposals_expire_due()

"""Celery entry points of the log; each is idempotent and safe to run twice."""

from celery import shared_task

from apps.audit import services
from apps.tenancy.scope import institution_task


@shared_task(acks_late=True, ignore_result=True)
def audit_sequence_task() -> int:
    from django.core.cache import cache

    cache.delete(services.SEQUENCE_PENDING_KEY)
    return services.audit_sequence()


@shared_task(acks_late=True, ignore_result=True)
def audit_tree_head_sign_task() -> int | None:
    sth = services.audit_tree_head_sign()
    return sth.tree_size if sth else None


@shared_task(acks_late=True, ignore_result=True)
@institution_task
def log_verification_task(*, verification_id: int, institution_id: int) -> str:
    return services.log_verification_run(verification_id=verification_id).status

"""Celery entry points of the feedback layer: ids in, idempotent."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.tenancy.scope import institution_task


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
@institution_task
def verdict_learn_task(*, item_id: int, institution_id: int) -> None:
    """Let the owning domain learn from a verdict (reputation, training examples, calibration)."""
    from apps.feedback.models import ItemStatus, ReviewItem
    from apps.feedback.subjects import subject_for

    item = ReviewItem.objects.get(pk=item_id)
    subject = subject_for(item.subject_type)
    if item.status == ItemStatus.DECIDED and subject is not None and subject.learn is not None:
        from apps.tenancy.scope import institution_scope

        # the domain learns in the scope of the institution whose case it was
        with institution_scope(item.owner_of_case):
            subject.learn(item=item)


@shared_task(acks_late=True)
def review_items_escalate_due_task() -> int:
    """Beat: escalate the open items past their deadline."""
    from apps.feedback import services

    return services.review_items_escalate_due()


@shared_task(acks_late=True)
def review_items_remind_due_task() -> int:
    """Beat: remind council members of deadlines coming up."""
    from apps.feedback import services

    return services.review_items_remind_due()

"""Celery entry points of the contract net: ids in, idempotent, each calls one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.tenancy.scope import institution_task

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 3}


@shared_task(soft_time_limit=60, time_limit=90, **RETRY)
@institution_task
def announcement_autobid_task(*, announcement_id: int, institution_id: int) -> int:
    """The announcer's agents with a bidding policy bid on a call that just opened."""
    from apps.agents.negotiation import services
    from apps.agents.negotiation.models import Announcement

    announcement = Announcement.objects.filter(pk=announcement_id).first()
    return services.announcement_autobid(announcement=announcement) if announcement else 0


@shared_task(soft_time_limit=60, time_limit=90, **RETRY)
@institution_task
def received_call_autobid_task(*, call_id: int, institution_id: int) -> int:
    """An invited institution's agents with a bidding policy bid, by envelope."""
    from apps.agents.negotiation import services
    from apps.agents.negotiation.models import ReceivedCall

    call = ReceivedCall.objects.filter(pk=call_id).first()
    return services.received_call_autobid(call=call) if call else 0


@shared_task(soft_time_limit=60, time_limit=90, **RETRY)
@institution_task
def announcement_award_task(*, announcement_id: int, institution_id: int) -> str:
    """Award a call once its deadline has passed; a call still open for bids, or already
    decided, is left alone (the task may run early, twice, or after an administrator)."""
    from django.utils import timezone

    from apps.agents.negotiation import services
    from apps.agents.negotiation.models import Announcement, AnnouncementStatus

    announcement = Announcement.objects.filter(pk=announcement_id).first()
    if announcement is None or announcement.status != AnnouncementStatus.OPEN:
        return "decided"
    if timezone.now() < announcement.bidding_deadline:
        return "open"
    return services.announcement_award(announcement=announcement, actor=None).status


@shared_task(soft_time_limit=120, time_limit=150, **RETRY)
def announcements_award_due_task() -> int:
    """Beat's sweep: award every open call whose deadline has passed (a lost timed task)."""
    from apps.agents.negotiation import services

    due = services.announcements_due()
    for announcement_id, institution_id in due:
        announcement_award_task.delay(announcement_id=announcement_id, institution_id=institution_id)
    return len(due)

"""Reads of councils and their queues; every one takes the institution.

Who sees a council's queue: its sitting members, the institution's administrators and
auditors. A member of one council does not see another council's queue.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from apps.feedback.models import Council, CouncilMember, ItemStatus, Recusal, ReviewItem, Vote
from apps.tenancy.models import Institution, Role
from apps.tenancy.selectors import roles_of

OVERSEERS = frozenset({Role.INSTITUTION_ADMIN, Role.AUDITOR})


def councils_of(*, institution: Institution) -> QuerySet[Council]:
    return Council.objects.filter(institution=institution)


def council_get(*, institution: Institution, council_id: int) -> Council:
    """Raises: Http404 when the council is not this institution's."""
    council = Council.objects.filter(institution=institution, pk=council_id).first()
    if council is None:
        raise Http404
    return council


def seat_of(*, council: Council, user) -> CouncilMember | None:
    """The user's seat on the council today, if they sit on it."""
    if not getattr(user, "is_authenticated", False):
        return None
    day = timezone.localdate()
    return (
        CouncilMember.objects.filter(
            council=council, user=user, ended_at__isnull=True, term_start__lte=day, term_end__gte=day
        )
        .order_by("-term_start")
        .first()
    )


def can_see_queue(*, council: Council, user) -> bool:
    return (
        bool(roles_of(user=user, institution=council.institution) & OVERSEERS)
        or seat_of(council=council, user=user) is not None
    )


def members_of(*, council: Council) -> QuerySet[CouncilMember]:
    return CouncilMember.objects.filter(council=council).select_related("user", "draw").order_by("-term_end", "pk")


def queue(*, council: Council, status: str = ItemStatus.OPEN) -> QuerySet[ReviewItem]:
    items = ReviewItem.objects.filter(institution=council.institution, council=council)
    return items.filter(status=status) if status else items


def item_get(*, council: Council, item_id: int) -> ReviewItem:
    """Raises: Http404 when the item is not on this council's queue."""
    item = ReviewItem.objects.filter(council=council, pk=item_id).select_related("council", "escalated_to").first()
    if item is None:
        raise Http404
    return item


def votes_of(*, item: ReviewItem) -> QuerySet[Vote]:
    return Vote.objects.filter(item=item).select_related("member__user")


def recusals_of(*, item: ReviewItem) -> QuerySet[Recusal]:
    return Recusal.objects.filter(item=item).select_related("member__user")


def published_verdicts(*, council: Council) -> QuerySet[ReviewItem]:
    """Decided items of a council whose record is public (pages pseudonymise them)."""
    if not council.public_record:
        return ReviewItem.objects.none()
    return ReviewItem.objects.filter(council=council, status=ItemStatus.DECIDED).order_by("-decided_at")

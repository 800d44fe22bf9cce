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


# --- reads of the council pages and API ------------------------------------------------


def councils_seated(*, institution: Institution, user) -> set[int]:
    """The ids of the institution's councils the user sits on today (one query)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    day = timezone.localdate()
    return set(
        CouncilMember.objects.filter(
            institution=institution, user=user, ended_at__isnull=True, term_start__lte=day, term_end__gte=day
        ).values_list("council_id", flat=True)
    )


def open_item_counts(*, institution: Institution) -> dict[int, int]:
    """Open items per council of the institution (one query)."""
    from django.db.models import Count

    rows = (
        ReviewItem.objects.filter(institution=institution, status=ItemStatus.OPEN)
        .values("council_id")
        .annotate(n=Count("pk"))
    )
    return {row["council_id"]: row["n"] for row in rows}


def queue_page(*, council: Council) -> tuple[list[ReviewItem], list[ReviewItem]]:
    """The queue as people read it: the open items by deadline, then the decided and escalated
    ones, latest first (two queries)."""
    items = ReviewItem.objects.filter(institution=council.institution, council=council).select_related(
        "escalated_to__council"
    )
    open_items = list(items.filter(status=ItemStatus.OPEN).order_by("deadline", "pk"))
    from django.db.models import F

    # escalated items have no decision date: after the decided ones, on every database
    closed = list(
        items.exclude(status=ItemStatus.OPEN).order_by(F("decided_at").desc(nulls_last=True), "-deadline", "-pk")
    )
    return open_items, closed


def awaiting_vote(*, institution: Institution, user) -> QuerySet[ReviewItem]:
    """Open items of the councils the user sits on today, on which they neither voted nor recused."""
    from django.db.models import Exists, OuterRef

    seated = councils_seated(institution=institution, user=user)
    return (
        ReviewItem.objects.filter(institution=institution, council_id__in=seated, status=ItemStatus.OPEN)
        .exclude(Exists(Vote.objects.filter(item=OuterRef("pk"), member__user=user)))
        .exclude(Exists(Recusal.objects.filter(item=OuterRef("pk"), member__user=user)))
        .select_related("council")
        .order_by("deadline", "pk")
    )


def public_agent_cards(*, uids: list[str]) -> set[str]:
    """Which of these agents have a model card anyone may read (the item page links to them)."""
    from apps.agents.models import ModelCard

    # tenancy: public model cards are readable across institutions by design
    return {
        str(uid)
        for uid in ModelCard.all_institutions.filter(agent__uid__in=uids, public=True).values_list(
            "agent__uid", flat=True
        )
    }


def public_record_council(*, institution_slug: str, council_id: int) -> Council:
    """A council whose pseudonymised record is public, for anyone.

    Raises: Http404 for an unknown institution or council, or one without a public record."""
    institution = Institution.objects.filter(slug=institution_slug).first()
    # tenancy: a public record is read without membership; the institution comes from the URL
    council = (
        Council.all_institutions.filter(institution=institution, pk=council_id, public_record=True)
        .select_related("institution")
        .first()
        if institution is not None
        else None
    )
    if council is None:
        raise Http404
    return council

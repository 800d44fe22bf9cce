"""Reads of council membership; every one takes the institution (or the council, already scoped)."""

from __future__ import annotations

from collections import Counter

from django.db.models import QuerySet
from django.http import Http404

from apps.feedback.draw import stratum_key
from apps.feedback.membership.models import CouncilShare
from apps.feedback.models import Council, CouncilDraw, CouncilMember, CouncilVolunteer
from apps.tenancy.models import Institution


def member_get(*, council: Council, member_id: int) -> CouncilMember:
    """Raises: Http404 when the seat is not on this council."""
    member = CouncilMember.objects.filter(council=council, pk=member_id).select_related("user", "draw").first()
    if member is None:
        raise Http404
    return member


def volunteers_of(*, council: Council) -> QuerySet[CouncilVolunteer]:
    """Volunteers still offering, in draw order."""
    return CouncilVolunteer.objects.filter(council=council, withdrawn_at__isnull=True).select_related("user")


def volunteer_of(*, council: Council, user) -> CouncilVolunteer | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return CouncilVolunteer.objects.filter(council=council, user=user).first()


def volunteer_counts(*, council: Council) -> list[tuple[dict[str, str], int]]:
    """How many volunteers each stratum has: what anyone of the institution may see."""
    fields = list(council.strata_fields)
    counts: Counter[str] = Counter()
    labels: dict[str, dict[str, str]] = {}
    for strata in volunteers_of(council=council).values_list("strata", flat=True):
        key = stratum_key(strata, fields)
        counts[key] += 1
        labels[key] = {f: str((strata or {}).get(f, "")) for f in fields}
    return [(labels[key], counts[key]) for key in sorted(counts)]


def draws_of(*, council: Council) -> QuerySet[CouncilDraw]:
    return CouncilDraw.objects.filter(council=council).order_by("-drawn_at", "-pk")


def draw_get(*, council: Council, draw_id: int) -> CouncilDraw:
    """Raises: Http404 when the draw is not this council's."""
    record = CouncilDraw.objects.filter(council=council, pk=draw_id).first()
    if record is None:
        raise Http404
    return record


def public_draw_get(*, draw_id: int) -> CouncilDraw:
    """A draw's public record, for anyone to re-run; it holds only pseudonyms.

    Raises: Http404."""
    # tenancy: a draw's record is public by design (seed, pseudonyms, strata, quotas)
    record = CouncilDraw.all_institutions.filter(pk=draw_id).select_related("council", "institution").first()
    if record is None:
        raise Http404
    return record


def shares_of(*, institution: Institution, council: Council | None = None) -> QuerySet[CouncilShare]:
    """The owner's side: councils of this institution shared with others."""
    shares = CouncilShare.objects.filter(institution=institution).select_related("council", "shared_with")
    return shares.filter(council=council) if council is not None else shares


def councils_shared_with(*, institution: Institution) -> QuerySet[CouncilShare]:
    """The served side: other institutions' councils shared with this one (active and ended)."""
    # tenancy: the shares are the owners' rows; this institution sees those naming it
    return CouncilShare.all_institutions.filter(shared_with=institution).select_related(
        "council", "institution", "shared_with"
    )


def share_get(*, institution: Institution, share_id: int) -> CouncilShare:
    """A share this institution owns or is served by. Raises: Http404."""
    # tenancy: either side of the share may read it
    share = (
        CouncilShare.all_institutions.filter(pk=share_id)
        .select_related("council", "institution", "shared_with")
        .first()
    )
    if share is None or institution.pk not in (share.institution_id, share.shared_with_id):
        raise Http404
    return share

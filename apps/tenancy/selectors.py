"""Reads of institutions and memberships."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.tenancy.models import Institution, Membership


def institutions_for_user(*, user) -> QuerySet[Institution]:
    """The institutions a user belongs to, in any role."""
    if not user.is_authenticated:
        return Institution.objects.none()
    return Institution.objects.filter(memberships__user=user).distinct().order_by("name")


def roles_of(*, user, institution: Institution) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(Membership.objects.filter(user=user, institution=institution).values_list("role", flat=True))


def roles_anywhere(*, user) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(Membership.objects.filter(user=user).values_list("role", flat=True))


def institution_for_member(*, user, slug: str) -> tuple[Institution, set[str]]:
    """The institution with this slug and the user's roles in it.

    Raises: Http404 when it does not exist or the user is not a member: outsiders
    cannot tell the two apart."""
    institution = Institution.objects.filter(slug=slug).first()
    if institution is None:
        raise Http404
    roles = roles_of(user=user, institution=institution)
    if not roles:
        raise Http404
    return institution, roles


def memberships_of_institution(*, institution: Institution) -> QuerySet[Membership]:
    return Membership.objects.filter(institution=institution).select_related("user").order_by("user__username", "role")


def membership_get(*, institution: Institution, membership_id: int) -> Membership:
    """Raises: Http404 when the membership is not this institution's."""
    membership = Membership.objects.filter(institution=institution, pk=membership_id).select_related("user").first()
    if membership is None:
        raise Http404
    return membership


def membership_history(*, institution: Institution, user) -> QuerySet:
    """Every recorded change of one person's roles in an institution, revoked roles included, newest first."""
    return (
        Membership.history.filter(institution=institution, user=user)
        .select_related("history_user")
        .order_by("-history_date", "-history_id")
    )

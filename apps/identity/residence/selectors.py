"""Reads of residence requests: the municipality's queue, and the applicant's own requests."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.identity.models import ResidenceRequest, ResidenceRequestStatus
from apps.tenancy.models import Institution, InstitutionKind


def municipalities() -> QuerySet[Institution]:
    return Institution.objects.filter(kind=InstitutionKind.MUNICIPALITY).order_by("name")


def residence_requests_of_institution(*, institution, status: str = "") -> QuerySet[ResidenceRequest]:
    qs = ResidenceRequest.objects.filter(institution=institution).select_related("applicant")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def residence_requests_waiting_count(*, institution) -> int:
    return ResidenceRequest.objects.filter(institution=institution, status=ResidenceRequestStatus.SUBMITTED).count()


def residence_request_get(*, institution, request_id: int) -> ResidenceRequest:
    """Raises: Http404 unless the request is this institution's."""
    found = (
        ResidenceRequest.objects.filter(institution=institution, pk=request_id)
        .select_related("applicant", "decided_by", "credential", "institution")
        .first()
    )
    if found is None:
        raise Http404
    return found


def residence_requests_of_applicant(*, user) -> QuerySet[ResidenceRequest]:
    return (
        ResidenceRequest.all_institutions.filter(applicant=user)  # tenancy: the applicant's own, in any municipality
        .select_related("institution")
        .order_by("-created_at", "-pk")
    )


def residence_request_of_applicant(*, user, request_id: int) -> ResidenceRequest:
    """Raises: Http404 unless the request is this person's."""
    found = residence_requests_of_applicant(user=user).filter(pk=request_id).first()
    if found is None:
        raise Http404
    return found

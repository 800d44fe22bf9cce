"""Reads of permits, always scoped to the institution."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.permits.models import (
    ApplicationEvent,
    ApplicationStatus,
    Permit,
    PermitApplication,
    PermitType,
)

QUEUE_STATUSES = (ApplicationStatus.AWAITING_CONFIRMATION, ApplicationStatus.SUBMITTED)


def permit_types_of_institution(*, institution, active_only: bool = False) -> QuerySet[PermitType]:
    qs = PermitType.all_institutions.filter(institution=institution)  # tenancy: explicit institution
    if active_only:
        qs = qs.filter(active=True)
    return qs.select_related("cluster", "council").order_by("name", "pk")


def permit_type_get(*, institution, slug: str) -> PermitType:
    """Raises: Http404 unless it is this institution's."""
    found = permit_types_of_institution(institution=institution).filter(slug=slug).first()
    if found is None:
        raise Http404
    return found


def _applications(institution) -> QuerySet[PermitApplication]:
    return PermitApplication.all_institutions.filter(institution=institution).select_related(  # tenancy: explicit
        "permit_type", "applicant", "institution"
    )


def applications_of_institution(*, institution, status: str = "") -> QuerySet[PermitApplication]:
    qs = _applications(institution)
    if status == "queue":
        qs = qs.filter(status__in=QUEUE_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def applications_of_applicant(*, institution, user) -> QuerySet[PermitApplication]:
    return _applications(institution).filter(applicant=user).order_by("-created_at", "-pk")


def application_get(*, institution, application_id: int) -> PermitApplication:
    """Raises: Http404 unless it is this institution's."""
    found = (
        _applications(institution)
        .select_related("cluster_run", "decided_by", "process_instance__version__definition")
        .filter(pk=application_id)
        .first()
    )
    if found is None:
        raise Http404
    return found


def application_visible_get(*, institution, application_id: int, user, roles: set[str]) -> PermitApplication:
    """The applicant sees their own; civil servants, administrators and auditors see all of the institution's.

    Raises: Http404."""
    application = application_get(institution=institution, application_id=application_id)
    if application.applicant_id != user.pk and not roles & {"civil_servant", "institution_admin", "auditor"}:
        raise Http404
    return application


def application_timeline(*, application: PermitApplication) -> QuerySet[ApplicationEvent]:
    return (
        ApplicationEvent.all_institutions.filter(  # tenancy: the application's own
            institution_id=application.institution_id, application=application
        )
        .select_related("actor")
        .order_by("created_at", "pk")
    )


def _permits(institution) -> QuerySet[Permit]:
    return Permit.all_institutions.filter(institution=institution).select_related(  # tenancy: explicit
        "permit_type", "holder", "credential", "institution"
    )


def permits_of_institution(*, institution, holder=None) -> QuerySet[Permit]:
    qs = _permits(institution)
    if holder is not None:
        qs = qs.filter(holder=holder)
    return qs.order_by("-created_at", "-pk")


def permit_get(*, institution, permit_id: int) -> Permit:
    """Raises: Http404."""
    found = _permits(institution).select_related("application").filter(pk=permit_id).first()
    if found is None:
        raise Http404
    return found


def permit_visible_get(*, institution, permit_id: int, user, roles: set[str]) -> Permit:
    """Raises: Http404 unless the holder or the institution's staff ask."""
    permit = permit_get(institution=institution, permit_id=permit_id)
    if permit.holder_id != user.pk and not roles & {"civil_servant", "institution_admin", "auditor"}:
        raise Http404
    return permit

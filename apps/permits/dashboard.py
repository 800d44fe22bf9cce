"""Permits' dashboard panels: the decision queue for civil servants, applying for citizens."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.tenancy.dashboard import register_panel
from apps.tenancy.models import Role


def _queue_context(request: HttpRequest) -> dict[str, Any]:
    from apps.permits.selectors import applications_of_institution

    return {"waiting": applications_of_institution(institution=request.institution, status="queue").count()}


def _citizen_context(request: HttpRequest) -> dict[str, Any]:
    from apps.permits.models import OPEN_STATUSES
    from apps.permits.selectors import applications_of_applicant

    return {
        "open_applications": applications_of_applicant(institution=request.institution, user=request.user)
        .filter(status__in=OPEN_STATUSES)
        .count()
    }


register_panel(Role.CIVIL_SERVANT, "permits/panels/queue.html", _queue_context, order=16)
register_panel(Role.CITIZEN, "permits/panels/citizen.html", _citizen_context, order=26)

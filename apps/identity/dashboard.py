"""Identity's dashboard panels: the residence queue for civil servants, the wallet for citizens."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.tenancy.dashboard import register_panel
from apps.tenancy.models import Role


def _residence_queue_context(request: HttpRequest) -> dict[str, Any]:
    from apps.identity.residence.selectors import residence_requests_waiting_count

    return {"waiting": residence_requests_waiting_count(institution=request.institution)}


def _wallet_context(request: HttpRequest) -> dict[str, Any]:
    from apps.identity.eligibility import resident_of

    return {"resident": resident_of(user=request.user, institution=request.institution)}


register_panel(Role.CIVIL_SERVANT, "identity/residence/panels/queue.html", _residence_queue_context, order=15)
register_panel(Role.CITIZEN, "identity/wallet/panel.html", _wallet_context, order=25)

"""The council panel on the dashboard of council members: the cases awaiting their vote.

It replaces tenancy's placeholder panel for the role, which said the queue was not on yet."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.tenancy.dashboard import register_panel, unregister_panel
from apps.tenancy.models import Role

SHOWN = 10


def _awaiting_context(request: HttpRequest) -> dict[str, Any]:
    from apps.feedback.selectors import awaiting_vote

    items = awaiting_vote(institution=request.institution, user=request.user)
    shown = list(items[: SHOWN + 1])
    return {
        "awaiting": shown[:SHOWN],
        "awaiting_count": len(shown) if len(shown) <= SHOWN else items.count(),
    }


unregister_panel(Role.COUNCIL_MEMBER, "tenancy/panels/council.html")
register_panel(Role.COUNCIL_MEMBER, "feedback/panels/awaiting.html", _awaiting_context, order=20)

"""The "decisions about you" panel on every member's dashboard, when there are any."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.tenancy.dashboard import EVERYONE, register_panel

SHOWN = 5


def _decisions_context(request: HttpRequest) -> dict[str, Any]:
    from apps.agents.clusters.selectors import runs_concerning

    runs = list(runs_concerning(institution=request.institution, person=request.user).order_by("-pk")[:SHOWN])
    return {"my_decisions": runs}


register_panel(EVERYONE, "agents/panels/my_decisions.html", _decisions_context, order=30)

"""Pages of agents' reputation: the institution's ranking, and one agent's history with why it moved."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.agents import selectors as agent_selectors
from apps.agents.models import ReputationGraph
from apps.agents.reputation import selectors, services
from apps.tenancy.models import Role
from apps.tenancy.selectors import roles_of


def graph_label(graph: str) -> str:
    if graph == "pre-trust":
        return _("Pre-trust (certification by institutions)")
    return str(ReputationGraph(graph).label) if graph in ReputationGraph.values else graph


@require_GET
def reputation_ranking(request, institution_slug: str):
    """Any member reads the latest scores of the institution's agents."""
    snapshot = selectors.latest_snapshot(institution=request.institution)
    rows = list(selectors.ranking(institution=request.institution, snapshot=snapshot)) if snapshot else []
    is_admin = Role.INSTITUTION_ADMIN in roles_of(user=request.user, institution=request.institution)
    return render(
        request,
        "agents/reputation/ranking.html",
        {"snapshot": snapshot, "rows": rows, "is_admin": is_admin},
    )


@require_POST
def reputation_recompute(request, institution_slug: str):
    if Role.INSTITUTION_ADMIN not in roles_of(user=request.user, institution=request.institution):
        raise PermissionDenied
    snapshot = services.reputation_recompute(institution=request.institution, trigger="manual")
    if snapshot is None:
        messages.info(request, _("Nothing changed since the last computation: no new evidence, the same agents."))
    else:
        messages.success(request, _("Reputation recomputed."))
    return redirect("agents:reputation", institution_slug=request.institution.slug)


@require_GET
def agent_reputation(request, institution_slug: str, agent_uid):
    """One agent's score history, and why it moved in the chosen snapshot (default: the latest)."""
    agent = agent_selectors.agent_get(institution=request.institution, agent_uid=agent_uid)
    snapshot = None
    chosen = request.GET.get("snapshot", "")
    if chosen:
        if not chosen.isdigit():
            messages.error(request, _("That computation does not exist."))
            return redirect("agents:agent_reputation", institution_slug=request.institution.slug, agent_uid=agent.uid)
        snapshot = selectors.snapshot_get(institution=request.institution, snapshot_id=int(chosen))
    move = selectors.reputation_move(institution=request.institution, agent=agent, snapshot=snapshot)
    return render(
        request,
        "agents/reputation/agent.html",
        {
            "agent": agent,
            "history": selectors.agent_history(institution=request.institution, agent=agent),
            "move": move,
            "by_graph": [(graph_label(g), v) for g, v in move.by_graph] if move else [],
            "edges": [(graph_label(e.graph), e) for e in move.edges] if move else [],
        },
    )

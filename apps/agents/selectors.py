"""Reads of the agent registry; every one takes the institution, except the public model card."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from apps.agents.models import Agent, AgentStatus, AgentVersion, ModelCard
from apps.tenancy.models import Institution


def agents_of(*, institution: Institution, status: str = "") -> QuerySet[Agent]:
    agents = Agent.objects.filter(institution=institution).select_related("model_card")
    return agents.filter(status=status) if status else agents


def agent_get(*, institution: Institution, agent_uid) -> Agent:
    """Raises: Http404 when the agent is not this institution's."""
    try:
        agent_uid = uuid.UUID(str(agent_uid))
    except ValueError:
        raise Http404 from None
    agent = Agent.objects.filter(institution=institution, uid=agent_uid).select_related("model_card").first()
    if agent is None:
        raise Http404
    return agent


def agent_versions(*, institution: Institution, agent: Agent) -> QuerySet[AgentVersion]:
    return AgentVersion.objects.filter(institution=institution, agent=agent).select_related("changed_by")


def agent_is_active(agent: Agent) -> bool:
    """The kill switch's hook: may this agent act now? Re-read, so a suspension is seen at once.

    Clusters call it before a run and between steps; false means stop and route the task
    to another agent or to people."""
    # tenancy: a status check of a known agent, wherever the caller's scope is
    status = Agent.all_institutions.filter(pk=agent.pk).values_list("status", flat=True).first()
    return status == AgentStatus.CERTIFIED


def agents_available_for(*, institution: Institution, task_type: str) -> list[Agent]:
    """Certified agents of the institution that may act on this task type.

    Never a draft, suspended or retired agent, nor one without the capability. The
    capability match is done in Python: JSON containment lookups differ between SQLite
    and PostgreSQL, and an institution has few agents."""
    # tenancy: explicit institution filter, callable from tasks outside a request scope
    certified = Agent.all_institutions.filter(institution=institution, status=AgentStatus.CERTIFIED)
    return [agent for agent in certified.order_by("name", "pk") if task_type in (agent.capabilities or [])]


def public_model_card_get(*, agent_uid) -> ModelCard:
    """The model card anyone may read: only cards marked public.

    Raises: Http404 for an unknown agent or a card that is not public."""
    try:
        agent_uid = uuid.UUID(str(agent_uid))
    except ValueError:
        raise Http404 from None
    # tenancy: public cards are readable across institutions by design (citizens read the
    # cards of agents that decided on their case)
    card = (
        ModelCard.all_institutions.filter(agent__uid=agent_uid, public=True)
        .select_related("agent", "institution")
        .first()
    )
    if card is None:
        raise Http404
    return card

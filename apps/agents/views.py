"""Web pages of the agent registry, under /i/<institution_slug>/agents/, and the public model card.

The tenancy middleware has already checked membership (outsiders get 404) and put the
institution in scope; these views check the role a page needs, parse, call one service
or selector, and render.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from apps.agents import selectors, services
from apps.agents.clusters import selectors as cluster_selectors
from apps.agents.models import AgentStatus, AutonomyLevel, EngineName
from apps.agents.reputation import selectors as reputation_selectors
from apps.tenancy.models import Role
from apps.trust.models import ActType
from apps.trust.selectors import policy_for_act
from portal.errors import ApplicationError, ValidationFailed

JSON_WIDGET = forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"})


class CertifyAgentForm(forms.Form):
    """The payload form of the "certify_agent" act, also offered on the trust pages."""

    agent = forms.CharField(
        label=gettext_lazy("Agent identifier"),
        max_length=36,
        help_text=gettext_lazy(
            "The identifier shown on the agent's page; the agent must be a draft of this institution."
        ),
    )


class AgentForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    purpose = forms.CharField(label=gettext_lazy("Purpose"), widget=forms.Textarea(attrs={"rows": 3}))
    capabilities = forms.CharField(
        label=gettext_lazy("Capabilities"),
        help_text=gettext_lazy("The task types it may act on, one per line, such as permits.intake."),
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    autonomy_level = forms.TypedChoiceField(
        label=gettext_lazy("Autonomy level"), choices=AutonomyLevel.choices, coerce=int
    )
    engine = forms.ChoiceField(label=gettext_lazy("Engine"), choices=EngineName.choices)
    config = forms.CharField(
        label=gettext_lazy("Engine configuration (JSON)"),
        required=False,
        help_text=gettext_lazy(
            "No secrets: a key such as an API key is named by its environment variable, e.g. "
            '{"api_key_env": "CIVITAS_LLM_API_KEY"}.'
        ),
        widget=JSON_WIDGET,
    )

    @classmethod
    def initial_for(cls, agent) -> dict:
        return {
            "name": agent.name,
            "purpose": agent.purpose,
            "capabilities": "\n".join(agent.capabilities),
            "autonomy_level": agent.autonomy_level,
            "engine": agent.engine,
            "config": json.dumps(agent.config, indent=2, ensure_ascii=False),
        }


class ModelCardForm(forms.Form):
    purpose = forms.CharField(
        label=gettext_lazy("Intended use"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    training_sources = forms.CharField(
        label=gettext_lazy("Training sources and their provenance (JSON)"),
        required=False,
        help_text=gettext_lazy('A list such as [{"name": "Decisions 2020-2024", "provenance": "case files"}].'),
        widget=JSON_WIDGET,
    )
    evaluation_metrics = forms.CharField(
        label=gettext_lazy("Evaluation metrics (JSON)"),
        required=False,
        help_text=gettext_lazy('An object such as {"precision": 0.93, "recall": 0.88}.'),
        widget=JSON_WIDGET,
    )
    known_limits = forms.CharField(
        label=gettext_lazy("Known limits"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    accountable_person = forms.CharField(label=gettext_lazy("Accountable person"), required=False, max_length=200)
    public = forms.BooleanField(
        label=gettext_lazy("Anyone may read this model card"),
        required=False,
        help_text=gettext_lazy("Citizens read the model cards of agents that worked on their case."),
    )

    @classmethod
    def initial_for(cls, card) -> dict:
        return {
            "purpose": card.purpose,
            "training_sources": json.dumps(card.training_sources, indent=2, ensure_ascii=False),
            "evaluation_metrics": json.dumps(card.evaluation_metrics, indent=2, ensure_ascii=False),
            "known_limits": card.known_limits,
            "accountable_person": card.accountable_person,
            "public": card.public,
        }


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,
        max_length=services.MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


STATUS_ACTIONS = {
    "suspend": (services.agent_suspend, gettext_lazy("The agent is suspended: it is given no more work.")),
    "reinstate": (services.agent_reinstate, gettext_lazy("The agent is reinstated.")),
    "retire": (services.agent_retire, gettext_lazy("The agent is retired.")),
}


def _require_admin(request) -> None:
    if Role.INSTITUTION_ADMIN not in request.institution_roles:
        raise PermissionDenied(_("Only an institution administrator can manage agents."))


def _form_errors_from(form: forms.Form, error: ApplicationError) -> None:
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if field_errors:
        for field, messages_ in field_errors.items():
            for message in messages_:
                form.add_error(field if field in form.fields else None, str(message))
    else:
        form.add_error(None, error.message)


@require_GET
def agent_list(request, institution_slug):
    """The institution's agents: any member reads the registry."""
    agents = selectors.agents_of(institution=request.institution)
    return render(
        request,
        "agents/agent_list.html",
        {"agents": agents, "is_admin": Role.INSTITUTION_ADMIN in request.institution_roles},
    )


@require_http_methods(["GET", "POST"])
def agent_create(request, institution_slug):
    _require_admin(request)
    form = AgentForm(request.POST or None, initial={"config": "{}"})
    if request.method == "POST" and form.is_valid():
        try:
            agent = services.agent_register(institution=request.institution, actor=request.user, **form.cleaned_data)
        except ApplicationError as error:
            _form_errors_from(form, error)
            return render(request, "agents/agent_form.html", {"form": form}, status=error.status)
        messages.success(request, _("The agent is registered as a draft."))
        return redirect("agents:detail", institution_slug=request.institution.slug, agent_uid=agent.uid)
    status = 400 if request.method == "POST" else 200
    return render(request, "agents/agent_form.html", {"form": form}, status=status)


def _detail_context(request, agent) -> dict:
    statuses = {
        "can_suspend": agent.status in (AgentStatus.DRAFT, AgentStatus.CERTIFIED),
        "can_reinstate": agent.status == AgentStatus.SUSPENDED,
        "can_retire": agent.status != AgentStatus.RETIRED,
        "can_edit": agent.status != AgentStatus.RETIRED,
        "can_certify": agent.status == AgentStatus.DRAFT,
    }
    return {
        "agent": agent,
        "card": agent.model_card,
        "versions": selectors.agent_versions(institution=request.institution, agent=agent),
        "clusters": cluster_selectors.clusters_using_agent(institution=request.institution, agent=agent),
        "reputation": reputation_selectors.agent_history(institution=request.institution, agent=agent, limit=1),
        "is_admin": Role.INSTITUTION_ADMIN in request.institution_roles,
        "pretty_config": json.dumps(agent.config, indent=2, ensure_ascii=False, sort_keys=True),
        "pretty_metrics": json.dumps(agent.model_card.evaluation_metrics, indent=2, ensure_ascii=False),
        **statuses,
    }


@require_GET
def agent_detail(request, institution_slug, agent_uid):
    agent = selectors.agent_get(institution=request.institution, agent_uid=agent_uid)
    return render(request, "agents/agent_detail.html", _detail_context(request, agent))


@require_http_methods(["GET", "POST"])
def agent_edit(request, institution_slug, agent_uid):
    """Change an agent; a new engine or configuration makes a new version."""
    _require_admin(request)
    agent = selectors.agent_get(institution=request.institution, agent_uid=agent_uid)
    form = AgentForm(request.POST or None, initial=AgentForm.initial_for(agent))
    context = {"form": form, "agent": agent}
    if request.method == "POST" and form.is_valid():
        try:
            services.agent_update(agent=agent, actor=request.user, **form.cleaned_data)
        except ApplicationError as error:
            _form_errors_from(form, error)
            return render(request, "agents/agent_form.html", context, status=error.status)
        messages.success(request, _("The agent was saved."))
        return redirect("agents:detail", institution_slug=request.institution.slug, agent_uid=agent.uid)
    return render(request, "agents/agent_form.html", context, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
def model_card_edit(request, institution_slug, agent_uid):
    _require_admin(request)
    agent = selectors.agent_get(institution=request.institution, agent_uid=agent_uid)
    form = ModelCardForm(request.POST or None, initial=ModelCardForm.initial_for(agent.model_card))
    context = {"form": form, "agent": agent}
    if request.method == "POST" and form.is_valid():
        try:
            services.model_card_update(agent=agent, actor=request.user, **form.cleaned_data)
        except ApplicationError as error:
            _form_errors_from(form, error)
            return render(request, "agents/model_card_form.html", context, status=error.status)
        messages.success(request, _("The model card was saved."))
        return redirect("agents:detail", institution_slug=request.institution.slug, agent_uid=agent.uid)
    return render(request, "agents/model_card_form.html", context, status=400 if request.method == "POST" else 200)


def _status_view(request, agent_uid, action: str):
    _require_admin(request)
    agent = selectors.agent_get(institution=request.institution, agent_uid=agent_uid)
    form = ReasonForm(request.POST or None)
    context = {"agent": agent, "form": form, "action": action}
    if request.method == "GET":
        return render(request, "agents/agent_status.html", context)
    if not form.is_valid():
        return render(request, "agents/agent_status.html", context, status=400)
    service, done = STATUS_ACTIONS[action]
    try:
        service(agent=agent, actor=request.user, reason=form.cleaned_data["reason"])
    except ApplicationError as error:
        _form_errors_from(form, error)
        return render(request, "agents/agent_status.html", context, status=error.status)
    messages.success(request, str(done))
    return redirect("agents:detail", institution_slug=request.institution.slug, agent_uid=agent.uid)


@require_http_methods(["GET", "POST"])
def agent_suspend(request, institution_slug, agent_uid):
    """The kill switch: confirm (GET), then suspend with a reason (POST)."""
    return _status_view(request, agent_uid, "suspend")


@require_http_methods(["GET", "POST"])
def agent_reinstate(request, institution_slug, agent_uid):
    return _status_view(request, agent_uid, "reinstate")


@require_http_methods(["GET", "POST"])
def agent_retire(request, institution_slug, agent_uid):
    return _status_view(request, agent_uid, "retire")


@require_http_methods(["GET", "POST"])
def agent_certify(request, institution_slug, agent_uid):
    """Propose certification (a threshold approval); the authorities sign it on their trust pages."""
    _require_admin(request)
    agent = selectors.agent_get(institution=request.institution, agent_uid=agent_uid)
    context = {"agent": agent, "policy": policy_for_act(act_type=ActType.CERTIFY_AGENT)}
    if request.method == "GET":
        return render(request, "agents/agent_certify.html", context)
    try:
        proposal = services.agent_certification_propose(agent=agent, actor=request.user)
    except ApplicationError as error:
        context["error"] = error
        return render(request, "agents/agent_certify.html", context, status=error.status)
    messages.success(request, _("Certification was proposed. The authorities can now sign it."))
    return redirect("trust:proposal", institution_slug=request.institution.slug, proposal_id=proposal.pk)


@require_GET
def public_model_card(request, agent_uid):
    """Anyone reads a model card its institution made public; any other card is 404."""
    card = selectors.public_model_card_get(agent_uid=agent_uid)
    return render(
        request,
        "agents/model_card_public.html",
        {"card": card, "agent": card.agent, "pretty_metrics": json.dumps(card.evaluation_metrics, indent=2)},
    )


# clusters and runs ------------------------------------------------------------------------

RUN_READERS = frozenset({Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN, Role.COUNCIL_MEMBER, Role.AUDITOR})


@require_GET
def cluster_run_detail(request, institution_slug: str, run_id: int):
    """A run's stages, proposals, findings, weights and outcome; htmx polls until it ends."""
    from apps.agents.clusters import selectors as cluster_selectors
    from apps.tenancy.selectors import roles_of

    # the role first: a citizen learns nothing of which runs exist
    if not roles_of(user=request.user, institution=request.institution) & RUN_READERS:
        raise PermissionDenied
    run = cluster_selectors.cluster_run_get(institution=request.institution, run_id=run_id)
    records = list(cluster_selectors.run_proposals(institution=request.institution, run=run))
    stages = [
        {"index": i, "name": stage["name"], "records": [r for r in records if r.stage_index == i]}
        for i, stage in enumerate(run.cluster_snapshot.get("stages", []))
    ]
    template = (
        "agents/clusters/_run_progress.html" if getattr(request, "htmx", False) else "agents/clusters/run_detail.html"
    )
    return render(request, template, {"run": run, "stages": stages})

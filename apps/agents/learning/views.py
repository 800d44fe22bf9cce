"""Pages of learning from verdicts, under /i/<institution_slug>/agents/<uuid>/learning/.

The tenancy middleware has already checked membership (outsiders get 404). Those who read
runs (the examples come from case files) read these pages; administrators retrain, promote
and reject.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from apps.agents import selectors as agent_selectors
from apps.agents.api.clusters import READERS
from apps.agents.learning import selectors, services
from apps.agents.learning.models import CandidateStatus
from apps.agents.models import EngineName
from apps.tenancy.models import Role
from portal.errors import ApplicationError, ValidationFailed


class PromoteForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Note (why you promote it)"),
        required=False,
        max_length=services.MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=services.MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Recorded in the audit log."),
    )


def _is_admin(request) -> bool:
    return Role.INSTITUTION_ADMIN in request.institution_roles


def _require_reader(request) -> None:
    if not request.institution_roles & READERS:
        raise PermissionDenied


def _require_admin(request) -> None:
    if not _is_admin(request):
        raise PermissionDenied(_("Only an institution administrator can retrain, promote or reject models."))


def _agent(request, agent_uid):
    return agent_selectors.agent_get(institution=request.institution, agent_uid=agent_uid)


def comparison_rows(evaluation: dict) -> list[dict]:
    """The evaluation on held-out verdicts as rows of (measure, current model, candidate)."""
    current, candidate = evaluation.get("current") or {}, evaluation.get("candidate") or {}
    return [
        {
            "label": _("Agrees with the council"),
            "current": current.get("agreed"),
            "candidate": candidate.get("agreed"),
            "kind": "count",
        },
        {
            "label": _("Accuracy"),
            "current": current.get("accuracy"),
            "candidate": candidate.get("accuracy"),
            "kind": "share",
        },
        {
            "label": _("Agreement beyond chance (Cohen's κ)"),
            "current": current.get("agreement_kappa"),
            "candidate": candidate.get("agreement_kappa"),
            "kind": "number",
        },
        {
            "label": _("Brier score (lower is better)"),
            "current": current.get("brier_score"),
            "candidate": candidate.get("brier_score"),
            "kind": "number",
        },
    ]


@require_GET
def learning(request, institution_slug: str, agent_uid):
    """The agent's examples from council verdicts and its model candidates, evaluated side by side."""
    _require_reader(request)
    agent = _agent(request, agent_uid)
    candidates = list(selectors.candidates_of(institution=request.institution, agent=agent))
    return render(
        request,
        "agents/learning/learning.html",
        {
            "agent": agent,
            "learns": agent.engine == EngineName.STATISTICAL,
            "summary": selectors.learning_summary(institution=request.institution, agent=agent),
            "rows": [(c, comparison_rows(c.evaluation)) for c in candidates],
            "is_admin": _is_admin(request),
        },
    )


@require_POST
def retrain(request, institution_slug: str, agent_uid):
    _require_admin(request)
    agent = _agent(request, agent_uid)
    try:
        candidate = services.model_retrain(agent=agent, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("agents:learning", institution_slug=request.institution.slug, agent_uid=agent.uid)
    messages.success(request, _("Retraining started. The candidate is not used until an administrator promotes it."))
    return redirect(
        "agents:learning_candidate",
        institution_slug=request.institution.slug,
        agent_uid=agent.uid,
        candidate_id=candidate.pk,
    )


def _candidate_page(request, agent, candidate, *, promote_form=None, reject_form=None, status=200):
    is_admin = _is_admin(request)
    may_decide = is_admin and candidate.status == CandidateStatus.CANDIDATE
    context = {
        "agent": agent,
        "candidate": candidate,
        "rows": comparison_rows(candidate.evaluation),
        "is_admin": is_admin,
        "stale": candidate.base_artefact != str((agent.config or {}).get("artefact") or ""),
        "promote_form": (promote_form or PromoteForm()) if may_decide else None,
        "reject_form": (reject_form or RejectForm()) if may_decide else None,
    }
    # htmx polls for the progress fragment alone while it trains; a full page otherwise
    template = (
        "agents/learning/_candidate_progress.html"
        if getattr(request, "htmx", False)
        else "agents/learning/candidate.html"
    )
    return render(request, template, context, status=status)


@require_GET
def candidate_detail(request, institution_slug: str, agent_uid, candidate_id: int):
    _require_reader(request)
    agent = _agent(request, agent_uid)
    candidate = selectors.candidate_get(institution=request.institution, agent=agent, candidate_id=candidate_id)
    return _candidate_page(request, agent, candidate)


def _form_error(form: forms.Form, error: ApplicationError) -> None:
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if field_errors:
        for field, problems in field_errors.items():
            for problem in problems:
                form.add_error(field if field in form.fields else None, str(problem))
    else:
        form.add_error(None, error.message)


@require_POST
def candidate_promote(request, institution_slug: str, agent_uid, candidate_id: int):
    _require_admin(request)
    agent = _agent(request, agent_uid)
    candidate = selectors.candidate_get(institution=request.institution, agent=agent, candidate_id=candidate_id)
    form = PromoteForm(request.POST)
    if not form.is_valid():
        return _candidate_page(request, agent, candidate, promote_form=form, status=400)
    try:
        services.model_candidate_promote(candidate=candidate, actor=request.user, note=form.cleaned_data["note"])
    except ApplicationError as error:
        _form_error(form, error)
        return _candidate_page(request, agent, candidate, promote_form=form, status=error.status)
    messages.success(
        request,
        _(
            "The candidate is promoted: the agent's new version uses it. The agent is a draft again and works "
            "only once it is certified anew."
        ),
    )
    return redirect(
        "agents:learning_candidate",
        institution_slug=request.institution.slug,
        agent_uid=agent.uid,
        candidate_id=candidate.pk,
    )


@require_POST
def candidate_reject(request, institution_slug: str, agent_uid, candidate_id: int):
    _require_admin(request)
    agent = _agent(request, agent_uid)
    candidate = selectors.candidate_get(institution=request.institution, agent=agent, candidate_id=candidate_id)
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _candidate_page(request, agent, candidate, reject_form=form, status=400)
    try:
        services.model_candidate_reject(candidate=candidate, actor=request.user, reason=form.cleaned_data["reason"])
    except ApplicationError as error:
        _form_error(form, error)
        return _candidate_page(request, agent, candidate, reject_form=form, status=error.status)
    messages.success(request, _("The candidate is rejected; the agent keeps its model."))
    return redirect(
        "agents:learning_candidate",
        institution_slug=request.institution.slug,
        agent_uid=agent.uid,
        candidate_id=candidate.pk,
    )

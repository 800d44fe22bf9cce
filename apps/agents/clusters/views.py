"""Web pages of agent clusters, under /i/<institution_slug>/agents/clusters/.

The tenancy middleware has already checked membership (outsiders get 404) and put the
institution in scope; these views check the role a page needs, parse, call one service
or selector, and render. The roles are the API's (apps/agents/api/clusters.py), so the
pages and the API allow the same things: any member reads clusters, administrators
change them, submitters put tasks to them, readers see their runs.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.template.defaultfilters import floatformat
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.agents import selectors as agent_selectors
from apps.agents.api.clusters import READERS, SUBMITTERS, calibration_data
from apps.agents.clusters import flagging, selectors, services
from apps.agents.clusters.forms import AppealForm, ClusterForm, RunSubmitForm, add_service_errors
from apps.agents.models import AgentStatus, Cluster, ClusterRunStatus
from apps.tenancy.models import Role
from portal.errors import ApplicationError

RUNS_PER_PAGE = 20
RECENT_RUNS = 20


def _is_admin(request) -> bool:
    return Role.INSTITUTION_ADMIN in request.institution_roles


def _require_admin(request) -> None:
    if not _is_admin(request):
        raise PermissionDenied(_("Only an institution administrator can manage agent clusters."))


def policy_in_words(policy: dict) -> list[str]:
    """When a run goes to the council instead of standing, one sentence per reason."""
    policy = {**flagging.DEFAULT_POLICY, **policy}
    reasons = [
        _("no agent's proposal was accepted, or their combined confidence is below %(percent)s %%")
        % {"percent": floatformat(policy["min_confidence"] * 100, -2)},
        _("more than %(percent)s %% of the weighted vote is against the decision")
        % {"percent": floatformat(policy["max_disagreement"] * 100, -2)},
    ]
    if policy["flag_on_rejected"]:
        reasons.append(_("the validator rejected an agent's proposal (for example, it cited a fact not in the record)"))
    if policy["flag_on_out_of_scope"]:
        reasons.append(_("an agent was refused because it acted outside its task type or allowed decisions"))
    if policy["watch_agents"]:
        reasons.append(
            _("an agent on the watch list takes part (%(n)s agents: councils often contradicted them)")
            % {"n": len(policy["watch_agents"])}
        )
    if policy["high_impact"]:
        reasons.append(
            _("the record's %(field)s is %(threshold)s or more")
            % {"field": policy["high_impact"]["field"], "threshold": policy["high_impact"]["threshold"]}
        )
    if policy["audit_sample_rate"]:
        reasons.append(
            _("and %(percent)s %% of the other decisions are drawn for an audit by the council")
            % {"percent": floatformat(policy["audit_sample_rate"] * 100, -2)}
        )
    return reasons


def _offered_agents(request, cluster: Cluster | None = None) -> list:
    """The institution's agents a stage may name: never a retired one, unless the cluster has it already."""
    in_cluster = {uid for stage in (cluster.stages if cluster else []) for uid in stage.get("agents", [])}
    return [
        agent
        for agent in agent_selectors.agents_of(institution=request.institution).order_by("name", "pk")
        if agent.status != AgentStatus.RETIRED or str(agent.uid) in in_cluster
    ]


def _form_page(request, form: ClusterForm, cluster: Cluster | None, *, status: int = 200):
    task_types = sorted({capability for agent in form.agents for capability in agent.capabilities or []})
    context = {
        "form": form,
        "cluster": cluster,
        "task_types": task_types,
        "any_uncertified": any(agent.status != AgentStatus.CERTIFIED for agent in form.agents),
    }
    return render(request, "agents/clusters/cluster_form.html", context, status=status)


@require_GET
def cluster_list(request, institution_slug: str):
    """The institution's clusters: any member reads them; readers of runs also see how runs went."""
    clusters = list(selectors.clusters_of(institution=request.institution))
    may_read_runs = bool(request.institution_roles & READERS)
    counts = (
        selectors.recent_run_status_counts(institution=request.institution, per_cluster=RECENT_RUNS)
        if may_read_runs
        else {}
    )
    rows = [
        {
            "cluster": cluster,
            "stage_count": len(cluster.stages),
            "run_counts": [
                (label, counts[cluster.pk][value])
                for value, label in ClusterRunStatus.choices
                if cluster.pk in counts and counts[cluster.pk][value]
            ],
        }
        for cluster in clusters
    ]
    return render(
        request,
        "agents/clusters/cluster_list.html",
        {"rows": rows, "is_admin": _is_admin(request), "may_read_runs": may_read_runs, "recent_runs": RECENT_RUNS},
    )


@require_http_methods(["GET", "POST"])
def cluster_create(request, institution_slug: str):
    _require_admin(request)
    form = ClusterForm(request.POST or None, initial=ClusterForm.initial_for(None), agents=_offered_agents(request))
    if request.method == "POST" and form.is_valid():
        try:
            cluster = services.cluster_create(
                institution=request.institution, actor=request.user, **form.service_arguments()
            )
        except ApplicationError as error:
            add_service_errors(form, error)
            return _form_page(request, form, None, status=error.status)
        messages.success(request, _("The cluster was created."))
        return redirect("agents:cluster_detail", institution_slug=request.institution.slug, cluster_id=cluster.pk)
    return _form_page(request, form, None, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
def cluster_edit(request, institution_slug: str, cluster_id: int):
    """Change a cluster; runs already started keep the stages they began with."""
    _require_admin(request)
    cluster = selectors.cluster_get(institution=request.institution, cluster_id=cluster_id)
    form = ClusterForm(
        request.POST or None,
        initial=ClusterForm.initial_for(cluster),
        agents=_offered_agents(request, cluster),
        rows=ClusterForm.rows_for(cluster),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.cluster_update(cluster=cluster, actor=request.user, **form.service_arguments())
        except ApplicationError as error:
            add_service_errors(form, error)
            return _form_page(request, form, cluster, status=error.status)
        messages.success(request, _("The cluster was saved."))
        return redirect("agents:cluster_detail", institution_slug=request.institution.slug, cluster_id=cluster.pk)
    return _form_page(request, form, cluster, status=400 if request.method == "POST" else 200)


def _detail_page(request, cluster: Cluster, *, submit_form: RunSubmitForm | None = None, status: int = 200):
    agents = selectors.stage_agents(institution=request.institution, clusters=[cluster])
    stages = [
        {"name": stage["name"], "agents": [{"uid": uid, "agent": agents.get(uid)} for uid in stage["agents"]]}
        for stage in cluster.stages
    ]
    may_read_runs = bool(request.institution_roles & READERS)
    may_submit = bool(request.institution_roles & SUBMITTERS)
    page = None
    if may_read_runs:
        page = Paginator(
            selectors.cluster_runs(institution=request.institution, cluster=cluster), RUNS_PER_PAGE
        ).get_page(request.GET.get("page"))
    context = {
        "cluster": cluster,
        "stages": stages,
        "policy": policy_in_words(cluster.flagging_policy),
        "any_uncertified": any(
            entry["agent"] is None or entry["agent"].status != AgentStatus.CERTIFIED
            for stage in stages
            for entry in stage["agents"]
        ),
        "is_admin": _is_admin(request),
        "may_read_runs": may_read_runs,
        "may_submit": may_submit,
        "page": page,
        "submit_form": (submit_form or RunSubmitForm()) if may_submit else None,
        # what the councils' verdicts say of the cluster's decisions and agents (readers only)
        "calibration": calibration_data(cluster) if may_read_runs else None,
    }
    return render(request, "agents/clusters/cluster_detail.html", context, status=status)


@require_GET
def cluster_detail(request, institution_slug: str, cluster_id: int):
    """A cluster's stages and review rules (any member), its runs (readers), the task form (submitters)."""
    cluster = selectors.cluster_get(institution=request.institution, cluster_id=cluster_id)
    return _detail_page(request, cluster)


@require_POST
def cluster_run_submit(request, institution_slug: str, cluster_id: int):
    """Put a task to the cluster; its stages run in the background, so this goes to the run's page."""
    if not request.institution_roles & SUBMITTERS:
        raise PermissionDenied(_("Only civil servants and administrators can put tasks to a cluster."))
    cluster = selectors.cluster_get(institution=request.institution, cluster_id=cluster_id)
    form = RunSubmitForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, cluster, submit_form=form, status=400)
    try:
        run = services.cluster_run_start(
            cluster=cluster,
            record=form.cleaned_data["record"],
            documents=form.cleaned_data["documents"],
            actor=request.user,
            concerns=selectors.person_concerned(username=form.cleaned_data.get("concerns", "")),
        )
    except ApplicationError as error:
        add_service_errors(form, error)
        return _detail_page(request, cluster, submit_form=form, status=error.status)
    messages.success(request, _("The task was submitted. Its stages run in the background; this page follows them."))
    return redirect("agents:run_detail", institution_slug=request.institution.slug, run_id=run.pk)


# the person a decision concerns ----------------------------------------------------------


@require_GET
def my_decisions(request, institution_slug: str):
    """The decisions made about the signed-in person, whatever their role."""
    runs = selectors.runs_concerning(institution=request.institution, person=request.user).order_by("-pk")[:100]
    return render(request, "agents/clusters/my_decisions.html", {"runs": runs})


@require_http_methods(["GET", "POST"])
def my_decision(request, institution_slug: str, run_id: int):
    """One decision about the person: the outcome, the reasons in plain words, the council's
    verdict, the public model cards of the agents that decided, and an appeal."""
    from apps.agents import review

    run = selectors.run_concerning_get(institution=request.institution, person=request.user, run_id=run_id)
    form = AppealForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                review.cluster_run_appeal(run=run, person=request.user, grounds=form.cleaned_data["grounds"])
            except ApplicationError as error:
                add_service_errors(form, error)
                status = error.status
            else:
                messages.success(request, _("Your appeal was sent to the council. You will be told its verdict."))
                return redirect("agents:my_decision", institution_slug=request.institution.slug, run_id=run.pk)
        else:
            status = 400
    records = [r for r in selectors.run_proposals(institution=request.institution, run=run) if not r.refused]
    appeal = review.appeal_of(run=run)
    from apps.agents.clusters.listeners import case_page

    return render(
        request,
        "agents/clusters/my_decision.html",
        {"run": run, "records": records, "form": form, "appeal": appeal, "case_page": case_page(run=run)},
        status=status,
    )

"""Web pages of threshold approvals: the authorities' inbox, proposing an act, signing it.

The tenancy middleware has already checked membership for every URL (outsiders get
404) and set `request.institution`; a proposal the institution neither made nor must
sign is 404 too (`selectors.proposal_get`). These views only check the role a page needs.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from apps.tenancy.models import Role
from apps.trust import selectors, services
from apps.trust.effects import effect_for, registered_act_types
from apps.trust.models import ActType, ProposalStatus
from portal.errors import ApplicationError, ValidationFailed

READERS = {Role.INSTITUTION_ADMIN, Role.AUDITOR}


def _require_role(request, roles: set[str]) -> None:
    if not roles & request.institution_roles:
        raise PermissionDenied(_("Your role in this institution does not allow this."))


class StatusFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("All")), *ProposalStatus.choices],
    )


class ActTypeChoiceForm(forms.Form):
    act_type = forms.ChoiceField(label=gettext_lazy("Act"))

    def __init__(self, *args, act_types: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["act_type"].choices = [(act, ActType(act).label) for act in act_types]


class ProposalTermsForm(forms.Form):
    expires_in_days = forms.IntegerField(
        label=gettext_lazy("Days the authorities have to sign"),
        min_value=1,
        max_value=services.MAX_PROPOSAL_DAYS,
        initial=services.DEFAULT_PROPOSAL_DAYS,
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


@require_GET
def proposal_list(request, institution_slug):
    """The inbox: proposals this institution made or must sign, newest first."""
    _require_role(request, READERS)
    filters = StatusFilterForm(request.GET)
    status = filters.cleaned_data["status"] if filters.is_valid() else ""
    proposals = selectors.proposals_visible_to(institution=request.institution, status=status)
    page = Paginator(proposals.prefetch_related("signatures", "authorities"), 25).get_page(request.GET.get("page"))
    here = request.institution.pk
    rows = []
    for proposal in page.object_list:
        signers = {s.authority_id for s in proposal.signatures.all()}
        authorities = {a.pk for a in proposal.authorities.all()}
        rows.append(
            {
                "proposal": proposal,
                "signatures": len(signers),
                "awaiting_us": proposal.is_open and here in authorities and here not in signers,
            }
        )
    return render(
        request,
        "trust/proposal_list.html",
        {
            "rows": rows,
            "page": page,
            "filters": filters,
            "can_propose": Role.INSTITUTION_ADMIN in request.institution_roles,
        },
    )


def _available_act_types() -> list[str]:
    with_policy = {p.act_type for p in selectors.policies_list()}
    return [act for act in registered_act_types() if act in with_policy]


def _form_errors_from(form: forms.Form, error: ApplicationError) -> None:
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if field_errors:
        for field, messages_ in field_errors.items():
            for message in messages_:
                form.add_error(field if field in form.fields else None, str(message))
    else:
        form.add_error(None, error.message)


@require_http_methods(["GET", "POST"])
def proposal_create(request, institution_slug):
    """Choose an act, fill in its form, and propose it to the act's authorities."""
    _require_role(request, {Role.INSTITUTION_ADMIN})
    act_types = _available_act_types()
    source = request.POST if request.method == "POST" else request.GET
    chooser = ActTypeChoiceForm(source or None, act_types=act_types)
    if len(act_types) == 1 and not source.get("act_type"):
        chooser = ActTypeChoiceForm({"act_type": act_types[0]}, act_types=act_types)
    act_type = chooser.cleaned_data["act_type"] if chooser.is_bound and chooser.is_valid() else ""
    effect = effect_for(act_type) if act_type else None
    form = terms = None
    if effect is not None and effect.form_class is not None:
        form = effect.form_class(request.POST if request.method == "POST" else None)
        terms = ProposalTermsForm(request.POST if request.method == "POST" else None)
    context = {
        "chooser": chooser,
        "act_type": act_type,
        "act_label": ActType(act_type).label if act_type else "",
        "policy": selectors.policy_for_act(act_type=act_type) if act_type else None,
        "form": form,
        "terms": terms,
        "act_types": act_types,
    }
    if request.method == "GET":
        return render(request, "trust/proposal_create.html", context)
    if form is None or terms is None:
        return render(request, "trust/proposal_create.html", context, status=400)
    if not (form.is_valid() & terms.is_valid()):
        return render(request, "trust/proposal_create.html", context, status=400)
    try:
        proposal = services.threshold_proposal_create(
            institution=request.institution,
            act_type=act_type,
            payload=form.cleaned_data,
            actor=request.user,
            expires_in_days=terms.cleaned_data["expires_in_days"],
        )
    except ApplicationError as error:
        _form_errors_from(form, error)
        return render(request, "trust/proposal_create.html", context, status=error.status)
    messages.success(request, _("The act was proposed. Its authorities can now sign it."))
    return redirect("trust:proposal", institution_slug=request.institution.slug, proposal_id=proposal.pk)


def _detail_page(request, proposal, *, status=200, error=None, withdraw_form=None):
    context = selectors.proposal_detail(proposal=proposal, institution=request.institution)
    context.update(
        {
            "error": error,
            "is_admin": Role.INSTITUTION_ADMIN in request.institution_roles,
            "withdraw_form": withdraw_form or WithdrawForm(),
            "pretty_document": json.dumps(context["document"], indent=2, ensure_ascii=False, sort_keys=True),
        }
    )
    return render(request, "trust/proposal_detail.html", context, status=status)


@require_GET
def proposal_detail(request, institution_slug, proposal_id):
    """The proposal, exactly what is signed (canonical JSON and digest), and each signature's check."""
    _require_role(request, READERS)
    proposal = selectors.proposal_get(institution=request.institution, proposal_id=proposal_id)
    return _detail_page(request, proposal)


@require_http_methods(["GET", "POST"])
def proposal_sign(request, institution_slug, proposal_id):
    """Ask for confirmation (GET) showing the digest to be signed, then sign (POST)."""
    _require_role(request, {Role.INSTITUTION_ADMIN})
    proposal = selectors.proposal_get(institution=request.institution, proposal_id=proposal_id)
    if request.method == "GET":
        can_sign = selectors.proposal_detail(proposal=proposal, institution=request.institution)["can_sign"]
        return render(request, "trust/proposal_sign.html", {"proposal": proposal, "can_sign": can_sign})
    if request.POST.get("digest") != proposal.digest:
        # The person confirmed a document other than the one stored now: sign nothing.
        error = ApplicationError(_("The document changed since you looked at it; check it again before signing."))
        return render(
            request, "trust/proposal_sign.html", {"proposal": proposal, "error": error, "can_sign": True}, status=409
        )
    try:
        proposal = services.threshold_proposal_sign(
            proposal=proposal, authority=request.institution, actor=request.user
        )
    except ApplicationError as error:
        return render(
            request,
            "trust/proposal_sign.html",
            {"proposal": proposal, "error": error, "can_sign": True},
            status=error.status,
        )
    if proposal.status == ProposalStatus.APPROVED:
        messages.success(request, _("Signed. The required signatures are present: the act has taken effect."))
    else:
        messages.success(request, _("Signed with the key of %(institution)s.") % {"institution": request.institution})
    return redirect("trust:proposal", institution_slug=request.institution.slug, proposal_id=proposal.pk)


@require_http_methods(["POST"])
def proposal_withdraw(request, institution_slug, proposal_id):
    """The proposing institution withdraws an open proposal."""
    _require_role(request, {Role.INSTITUTION_ADMIN})
    proposal = selectors.proposal_get(institution=request.institution, proposal_id=proposal_id)
    form = WithdrawForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, proposal, status=400, withdraw_form=form)
    try:
        services.threshold_proposal_withdraw(proposal=proposal, actor=request.user, reason=form.cleaned_data["reason"])
    except ApplicationError as error:
        return _detail_page(request, proposal, status=error.status, error=error, withdraw_form=form)
    messages.success(request, _("The proposal was withdrawn."))
    return redirect("trust:proposal", institution_slug=request.institution.slug, proposal_id=proposal.pk)


@require_GET
def proposal_export(request, institution_slug, proposal_id):
    """Download the proposal as a file any node can verify on its own."""
    _require_role(request, READERS)
    proposal = selectors.proposal_get(institution=request.institution, proposal_id=proposal_id)
    response = JsonResponse(selectors.proposal_export(proposal=proposal), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="threshold-proposal-{proposal.uid}.json"'
    return response


@require_GET
def policy_list(request, institution_slug):
    """Which institutions must approve each federation-level act, and how many of them."""
    return render(request, "trust/policy_list.html", {"policies": selectors.policies_list()})

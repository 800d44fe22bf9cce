"""Pages of the contract net, under /i/<institution_slug>/agents/negotiations/.

The tenancy middleware has checked membership (outsiders get 404) and put the institution
in scope; these views check the role, parse, call one service or selector, and render.
"""

from __future__ import annotations

import json
from datetime import datetime

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.agents.negotiation import selectors, services
from apps.agents.negotiation.models import AnnouncementStatus, ContractStatus
from apps.agents.selectors import agents_available_for
from apps.tenancy.models import Institution, Role
from portal.errors import ApplicationError, ValidationFailed

READERS = frozenset({Role.INSTITUTION_ADMIN, Role.CIVIL_SERVANT, Role.AUDITOR})
JSON_WIDGET = forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "class": "mono"})


def _require(request, roles: frozenset[str], message: str = "") -> None:
    if not request.institution_roles & roles:
        raise PermissionDenied(message or _("Your role in this institution does not allow this."))


def _require_admin(request) -> None:
    _require(
        request,
        frozenset({Role.INSTITUTION_ADMIN}),
        _("Only an institution administrator can announce, bid, award or sign."),
    )


def _is_admin(request) -> bool:
    return Role.INSTITUTION_ADMIN in request.institution_roles


def _form_errors_from(form: forms.Form, error: ApplicationError) -> None:
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if field_errors:
        for field, messages_ in field_errors.items():
            target = field if field in form.fields else None
            if field == "weights":
                target = "weight_price"
            for message in messages_:
                form.add_error(target, str(message))
    else:
        form.add_error(None, error.message)


# --- forms ------------------------------------------------------------------------------


class AnnouncementForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    task_type = forms.CharField(
        label=gettext_lazy("Task type"),
        max_length=80,
        help_text=gettext_lazy("Agents bid only if they have this capability, such as services.maintenance."),
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    specification = forms.CharField(
        label=gettext_lazy("Specification (JSON)"),
        required=False,
        help_text=gettext_lazy('What the work must meet, as a JSON object, such as {"lifts": 3, "visits": 4}.'),
        widget=JSON_WIDGET,
    )
    weight_price = forms.DecimalField(
        label=gettext_lazy("Weight of the price"), min_value=0, max_digits=6, decimal_places=2, initial=50
    )
    weight_time = forms.DecimalField(
        label=gettext_lazy("Weight of the time"), min_value=0, max_digits=6, decimal_places=2, initial=30
    )
    weight_confidence = forms.DecimalField(
        label=gettext_lazy("Weight of the confidence"),
        min_value=0,
        max_digits=6,
        decimal_places=2,
        initial=20,
        help_text=gettext_lazy("The three weights are scaled to sum to 100 %."),
    )
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, min_length=3, initial="EUR")
    max_price = forms.DecimalField(
        label=gettext_lazy("Highest acceptable price (optional)"),
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
    )
    max_hours = forms.IntegerField(
        label=gettext_lazy("Longest acceptable completion time, in hours (optional)"), required=False, min_value=1
    )
    bidding_deadline = forms.DateTimeField(
        label=gettext_lazy("Bidding closes at"),
        help_text=gettext_lazy("Local time of this portal. The award can be made once bidding has closed."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    invited = forms.MultipleChoiceField(
        label=gettext_lazy("Invite institutions of this node"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    other_invited = forms.CharField(
        label=gettext_lazy("Invite institutions of other nodes (optional)"),
        required=False,
        help_text=gettext_lazy("Their did:web identifiers, one per line."),
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "class": "mono"}),
    )

    def __init__(self, *args, institution: Institution, **kwargs):
        super().__init__(*args, **kwargs)
        # DIDs and names of institutions are public (their DID documents say so)
        others = Institution.objects.exclude(pk=institution.pk).exclude(did="").order_by("name")
        self.fields["invited"].choices = [(i.did, i.name) for i in others]

    def service_fields(self) -> dict:
        data = self.cleaned_data
        invited = list(data["invited"]) + [
            line.strip() for line in (data["other_invited"] or "").splitlines() if line.strip()
        ]
        deadline = data["bidding_deadline"]
        if isinstance(deadline, datetime) and timezone.is_naive(deadline):
            deadline = timezone.make_aware(deadline)
        return {
            "title": data["title"],
            "task_type": data["task_type"],
            "description": data["description"],
            "specification": data["specification"] or "{}",
            "weights": {
                "price": data["weight_price"],
                "time": data["weight_time"],
                "confidence": data["weight_confidence"],
            },
            "currency": data["currency"],
            "max_price": data["max_price"],
            "max_hours": data["max_hours"],
            "bidding_deadline": deadline,
            "invited": invited,
        }


class BidForm(forms.Form):
    agent = forms.ChoiceField(label=gettext_lazy("Agent"))
    price = forms.DecimalField(label=gettext_lazy("Price"), min_value=0, max_digits=14, decimal_places=2)
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, min_length=3)
    hours = forms.IntegerField(label=gettext_lazy("Time to complete, in hours"), min_value=1)
    confidence = forms.DecimalField(
        label=gettext_lazy("Confidence"),
        min_value=0,
        max_value=1,
        max_digits=4,
        decimal_places=3,
        help_text=gettext_lazy("How sure the agent is to deliver as offered, from 0 to 1."),
    )

    def __init__(self, *args, agents, currency: str, **kwargs):
        super().__init__(*args, initial={"currency": currency}, **kwargs)
        self.agents = {str(a.uid): a for a in agents}
        self.fields["agent"].choices = [(uid, agent.name) for uid, agent in self.agents.items()]

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data["agent"] = self.agents[data["agent"]]
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class SignForm(forms.Form):
    confirm = forms.BooleanField(
        label=gettext_lazy("I have read this contract and sign it on behalf of this institution."),
        required=True,
    )


# --- the announcer ----------------------------------------------------------------------


@require_GET
def negotiation_list(request, institution_slug):
    """This institution's calls for proposals, and those it was invited to."""
    _require(request, READERS)
    return render(
        request,
        "agents/negotiation/list.html",
        {
            "announcements": selectors.announcements_of(institution=request.institution),
            "received": selectors.received_calls_of(institution=request.institution),
            "is_admin": _is_admin(request),
        },
    )


@require_http_methods(["GET", "POST"])
def announcement_create(request, institution_slug):
    _require_admin(request)
    form = AnnouncementForm(request.POST or None, institution=request.institution)
    if request.method == "POST" and form.is_valid():
        try:
            announcement = services.announcement_create(
                institution=request.institution, actor=request.user, **form.service_fields()
            )
        except ApplicationError as error:
            _form_errors_from(form, error)
            return render(request, "agents/negotiation/announce.html", {"form": form}, status=error.status)
        messages.success(request, _("The call for proposals is open; the invited institutions were sent it."))
        return redirect(
            "agents:negotiation_detail", institution_slug=request.institution.slug, announcement_uid=announcement.uid
        )
    status = 400 if request.method == "POST" else 200
    return render(request, "agents/negotiation/announce.html", {"form": form}, status=status)


def _bid_form(request, announcement, data=None) -> BidForm:
    agents = agents_available_for(institution=request.institution, task_type=announcement.task_type)
    return BidForm(data, agents=agents, currency=announcement.currency)


def _detail(request, announcement, *, bid_form=None, cancel_form=None, status=200):
    is_admin = _is_admin(request)
    bidding_open = announcement.bidding_open
    context = {
        "announcement": announcement,
        "bids": selectors.bids_of(institution=request.institution, announcement=announcement),
        "contract": selectors.contract_of(institution=request.institution, announcement=announcement),
        "is_admin": is_admin,
        "bidding_open": bidding_open,
        "can_award": is_admin
        and announcement.status == AnnouncementStatus.OPEN
        and timezone.now() >= announcement.bidding_deadline,
        "can_cancel": is_admin and announcement.status in (AnnouncementStatus.OPEN, AnnouncementStatus.AWARDED),
        "bid_form": bid_form or (_bid_form(request, announcement) if is_admin and bidding_open else None),
        "cancel_form": cancel_form or CancelForm(),
        "pretty_specification": json.dumps(announcement.specification, indent=2, ensure_ascii=False),
    }
    return render(request, "agents/negotiation/detail.html", context, status=status)


@require_GET
def announcement_detail(request, institution_slug, announcement_uid):
    _require(request, READERS)
    announcement = selectors.announcement_get(institution=request.institution, announcement_uid=announcement_uid)
    return _detail(request, announcement)


@require_POST
def announcement_bid(request, institution_slug, announcement_uid):
    """An administrator bids on behalf of one of this institution's agents."""
    _require_admin(request)
    announcement = selectors.announcement_get(institution=request.institution, announcement_uid=announcement_uid)
    form = _bid_form(request, announcement, request.POST)
    if not form.is_valid():
        return _detail(request, announcement, bid_form=form, status=400)
    try:
        services.bid_submit(announcement=announcement, actor=request.user, **form.service_fields())
    except ApplicationError as error:
        _form_errors_from(form, error)
        return _detail(request, announcement, bid_form=form, status=error.status)
    messages.success(request, _("The bid is placed, signed by the agent's key."))
    return redirect(
        "agents:negotiation_detail", institution_slug=request.institution.slug, announcement_uid=announcement.uid
    )


@require_POST
def announcement_award(request, institution_slug, announcement_uid):
    _require_admin(request)
    announcement = selectors.announcement_get(institution=request.institution, announcement_uid=announcement_uid)
    try:
        announcement = services.announcement_award(announcement=announcement, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return _detail(request, announcement, status=error.status)
    if announcement.status == AnnouncementStatus.AWARDED:
        messages.success(request, _("The call is awarded; its contract awaits a signature."))
    else:
        messages.warning(request, _("No acceptable bid: the call has failed."))
    return redirect(
        "agents:negotiation_detail", institution_slug=request.institution.slug, announcement_uid=announcement.uid
    )


@require_POST
def announcement_cancel(request, institution_slug, announcement_uid):
    _require_admin(request)
    announcement = selectors.announcement_get(institution=request.institution, announcement_uid=announcement_uid)
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _detail(request, announcement, cancel_form=form, status=400)
    try:
        services.announcement_cancel(announcement=announcement, actor=request.user, **form.cleaned_data)
    except ApplicationError as error:
        _form_errors_from(form, error)
        return _detail(request, announcement, cancel_form=form, status=error.status)
    messages.success(request, _("The call is cancelled; the invited institutions were told."))
    return redirect(
        "agents:negotiation_detail", institution_slug=request.institution.slug, announcement_uid=announcement.uid
    )


@require_http_methods(["GET", "POST"])
def contract_detail(request, institution_slug, announcement_uid):
    """The contract an award produced; an administrator signs it with their own key."""
    _require(request, READERS)
    announcement = selectors.announcement_get(institution=request.institution, announcement_uid=announcement_uid)
    contract = selectors.contract_of(institution=request.institution, announcement=announcement)
    if contract is None:
        raise Http404
    form = SignForm(request.POST or None)
    status = 200
    if request.method == "POST":
        _require_admin(request)
        if form.is_valid():
            try:
                services.contract_sign(contract=contract, actor=request.user, confirm=form.cleaned_data["confirm"])
            except ApplicationError as error:
                _form_errors_from(form, error)
                status = error.status
            else:
                messages.success(request, _("The contract is signed with your key."))
                return redirect(
                    "agents:negotiation_contract",
                    institution_slug=request.institution.slug,
                    announcement_uid=announcement.uid,
                )
        else:
            status = 400
    context = {
        "announcement": announcement,
        "contract": contract,
        "form": form,
        "can_sign": _is_admin(request) and contract.status == ContractStatus.DRAFT,
        "signature_valid": services.contract_signature_valid(contract) if contract.signature else None,
        "pretty_document": json.dumps(contract.document, indent=2, ensure_ascii=False, sort_keys=True),
        "pretty_statement": json.dumps(contract.signed_statement, indent=2, ensure_ascii=False, sort_keys=True),
    }
    return render(request, "agents/negotiation/contract.html", context, status=status)


# --- an invited institution -------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def received_call_detail(request, institution_slug, call_uid):
    """A call another institution invited this one to; an administrator bids with one of its agents."""
    _require(request, READERS)
    call = selectors.received_call_get(institution=request.institution, call_uid=call_uid)
    is_admin = _is_admin(request)
    form = None
    status = 200
    if is_admin and call.bidding_open:
        agents = agents_available_for(institution=request.institution, task_type=call.task_type)
        form = BidForm(request.POST or None, agents=agents, currency=call.currency)
    if request.method == "POST":
        _require_admin(request)
        if form is None:
            messages.error(request, _("Bidding on this call has closed."))
            status = 409
        elif form.is_valid():
            try:
                services.call_bid_send(call=call, actor=request.user, **form.service_fields())
            except ApplicationError as error:
                _form_errors_from(form, error)
                status = error.status
            else:
                messages.success(request, _("The bid is signed by the agent and sent to the announcer."))
                return redirect(
                    "agents:negotiation_incoming", institution_slug=request.institution.slug, call_uid=call.call_uid
                )
        else:
            status = 400
    sent_bids = [
        (sent, selectors.sent_bid_delivery(institution=request.institution, sent=sent))
        for sent in selectors.sent_bids_of(institution=request.institution, call=call)
    ]
    context = {
        "call": call,
        "sent_bids": sent_bids,
        "form": form,
        "is_admin": is_admin,
        "pretty_specification": json.dumps(call.specification, indent=2, ensure_ascii=False),
    }
    return render(request, "agents/negotiation/incoming.html", context, status=status)

"""Web pages of an institution's federation: outbox (and the ping form), inbox, one envelope.

The tenancy middleware has already turned non-members away with 404 and set
`request.institution`; these views check the role a page needs and translate.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from apps.federation import selectors, services
from apps.federation.forms import PingForm
from apps.federation.permissions import can_read_envelopes, can_send_ping
from portal.errors import ApplicationError, ValidationFailed

PAGE_SIZE = 50


def _require_reader(request: HttpRequest) -> None:
    if not can_read_envelopes(roles=request.institution_roles):
        raise PermissionDenied(_("Only institution administrators and auditors can see envelopes."))


def _pretty(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def _outbox_page(request: HttpRequest, form: PingForm | None, *, status: int = 200) -> HttpResponse:
    page = Paginator(selectors.outbox_for(institution=request.institution), PAGE_SIZE).get_page(request.GET.get("page"))
    names = selectors.institution_names_by_did({e.recipient_did for e in page})
    rows = [{"envelope": e, "recipient_name": names.get(e.recipient_did, "")} for e in page]
    return render(
        request,
        "federation/outbox.html",
        {"page": page, "rows": rows, "form": form, "own_did": request.institution.did},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def outbox(request: HttpRequest, institution_slug: str) -> HttpResponse:
    """Envelopes sent; administrators also get the form to send a ping."""
    _require_reader(request)
    may_send = can_send_ping(roles=request.institution_roles)
    if request.method == "GET":
        return _outbox_page(request, PingForm() if may_send else None)
    if not may_send:
        raise PermissionDenied(_("Only an institution administrator can send a ping."))
    form = PingForm(request.POST)
    if not form.is_valid():
        return _outbox_page(request, form, status=400)
    try:
        envelope = services.ping_send(
            sender=request.institution,
            recipient_did=form.cleaned_data["recipient_did"],
            message=form.cleaned_data["message"],
            actor=request.user,
        )
    except ApplicationError as error:
        field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
        for field, field_messages in (field_errors or {None: [error.message]}).items():
            for message in field_messages:
                form.add_error(field if field in form.fields else None, str(message))
        return _outbox_page(request, form, status=error.status)
    messages.success(request, _("The ping is signed and on its way."))
    return redirect(
        "federation:outbox-detail", institution_slug=request.institution.slug, outbox_envelope_id=envelope.envelope_id
    )


@require_GET
def outbox_detail(request: HttpRequest, institution_slug: str, outbox_envelope_id) -> HttpResponse:
    _require_reader(request)
    envelope = selectors.outbox_get(institution=request.institution, envelope_id=outbox_envelope_id)
    return render(
        request,
        "federation/outbox_detail.html",
        {
            "envelope": envelope,
            "document_json": _pretty(envelope.document),
            "verification": selectors.envelope_document_verify(document=envelope.document),
            "attempts": envelope.delivery_attempts.all(),
        },
    )


@require_GET
def inbox(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require_reader(request)
    page = Paginator(selectors.inbox_for(institution=request.institution), PAGE_SIZE).get_page(request.GET.get("page"))
    names = selectors.institution_names_by_did({e.sender_did for e in page})
    rows = [{"envelope": e, "sender_name": names.get(e.sender_did, "")} for e in page]
    return render(request, "federation/inbox.html", {"page": page, "rows": rows})


@require_GET
def inbox_detail(request: HttpRequest, institution_slug: str, inbox_envelope_id) -> HttpResponse:
    _require_reader(request)
    envelope = selectors.inbox_get(institution=request.institution, envelope_id=inbox_envelope_id)
    return render(
        request,
        "federation/inbox_detail.html",
        {
            "envelope": envelope,
            "document_json": _pretty(envelope.document),
            "verification": selectors.envelope_document_verify(document=envelope.document),
        },
    )

"""The auditor's pages: an institution's events, one event with its proof, the tree heads."""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.audit import selectors, services
from apps.audit.forms import AuditEventFilterForm
from apps.audit.permissions import can_read_audit_log
from portal.errors import NotFound

EVENTS_PER_PAGE = 50
TREE_HEADS_SHOWN = 50


def _require_audit_reader(request: HttpRequest) -> None:
    """The tenancy middleware already turned non-members away with 404."""
    if not can_read_audit_log(roles=request.institution_roles):
        raise PermissionDenied


@require_GET
def event_list(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require_audit_reader(request)
    institution = request.institution
    form = AuditEventFilterForm(request.GET or None, target_types=selectors.audit_target_types(institution=institution))
    if form.is_bound and not form.is_valid():
        return render(request, "audit/event_list.html", {"form": form, "page_obj": None}, status=400)
    filters = form.selector_filters() if form.is_bound else {}
    events = selectors.audit_events_for_institution(institution=institution, filters=filters)
    page_obj = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/event_list.html",
        {"form": form, "page_obj": page_obj, "filtered": bool(filters)},
    )


@require_GET
def event_detail(request: HttpRequest, institution_slug: str, sequence: int) -> HttpResponse:
    _require_audit_reader(request)
    try:
        event = selectors.audit_event_get(institution=request.institution, sequence=sequence)
    except NotFound as exc:
        raise Http404 from exc
    inclusion = selectors.audit_event_inclusion(event=event, tree_head=selectors.tree_head_latest())
    changes_json = json.dumps(event.changes, indent=2, sort_keys=True, ensure_ascii=False)
    return render(
        request, "audit/event_detail.html", {"event": event, "inclusion": inclusion, "changes_json": changes_json}
    )


@require_GET
def tree_heads(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require_audit_reader(request)
    rows = [
        {"sth": sth, "signature_valid": selectors.tree_head_signature_valid(sth=sth)}
        for sth in selectors.tree_heads_recent(limit=TREE_HEADS_SHOWN)
    ]
    return render(
        request, "audit/tree_heads.html", {"rows": rows, "log_size": selectors.log_size(), "limit": TREE_HEADS_SHOWN}
    )


@require_GET
def verification_list(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require_audit_reader(request)
    return render(
        request,
        "audit/verification_list.html",
        {"verifications": selectors.log_verifications_recent(institution=request.institution, limit=20)},
    )


@require_POST
def verification_start(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require_audit_reader(request)
    verification = services.log_verification_request(institution=request.institution, actor=request.user)
    return redirect("audit:verification-detail", institution_slug=institution_slug, verification_id=verification.pk)


@require_GET
def verification_detail(request: HttpRequest, institution_slug: str, verification_id: int) -> HttpResponse:
    _require_audit_reader(request)
    try:
        verification = selectors.log_verification_get(institution=request.institution, verification_id=verification_id)
    except NotFound as exc:
        raise Http404 from exc
    # htmx polls for the progress fragment alone; a full page otherwise.
    template = "audit/_verification_progress.html" if request.htmx else "audit/verification_detail.html"
    return render(request, template, {"verification": verification})

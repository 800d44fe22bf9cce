"""Web pages of councils, under /i/<institution_slug>/councils/, and their public record.

The tenancy middleware has already checked membership (outsiders get 404) and put the
institution in scope; these views check who may see a council's queue (its sitting
members, the institution's administrators and auditors), parse, call one service or
selector, and render. A member of one council does not see another council's queue.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.feedback import selectors, services
from apps.feedback.forms import CouncilForm, RecuseForm, VoteForm, add_service_errors
from apps.feedback.models import Council, ItemStatus, ReviewItem
from apps.tenancy.models import Role
from apps.tenancy.scope import institution_scope
from portal.errors import ApplicationError

RECORD_PER_PAGE = 25


def _is_admin(request) -> bool:
    return Role.INSTITUTION_ADMIN in request.institution_roles


def _require_admin(request) -> None:
    if not _is_admin(request):
        raise PermissionDenied(_("Only an institution administrator can manage councils."))


def _council_for_queue(request, council_id: int) -> Council:
    """The council, if the person may see its queue; otherwise 403 (404 if it is not this institution's)."""
    council = selectors.council_get(institution=request.institution, council_id=council_id)
    if not selectors.can_see_queue(council=council, user=request.user):
        raise PermissionDenied(_("Only the council's sitting members, administrators and auditors see its cases."))
    return council


def mandate_in_words(council: Council) -> str:
    from apps.feedback.models import Impact

    types = council.mandate_task_types or []
    impacts = ", ".join(str(Impact(i).label).lower() for i in council.mandate_impacts or [] if i in Impact.values)
    if "*" in types:
        return _("Reviews cases of every task type with %(impacts)s impact.") % {"impacts": impacts}
    return _("Reviews %(types)s cases with %(impacts)s impact.") % {"types": ", ".join(types), "impacts": impacts}


# --- councils -------------------------------------------------------------------------------


@require_GET
def council_list(request, institution_slug: str):
    """Every member reads the councils and their mandates; those who see a queue, its open count."""
    councils = list(selectors.councils_of(institution=request.institution).select_related("backup_council"))
    overseer = bool(request.institution_roles & selectors.OVERSEERS)
    seated = selectors.councils_seated(institution=request.institution, user=request.user)
    counts = selectors.open_item_counts(institution=request.institution) if (overseer or seated) else {}
    rows = [
        {
            "council": council,
            "mandate": mandate_in_words(council),
            "sees_queue": overseer or council.pk in seated,
            "seated": council.pk in seated,
            "open_count": counts.get(council.pk, 0),
        }
        for council in councils
    ]
    return render(
        request,
        "feedback/council_list.html",
        {"rows": rows, "is_admin": _is_admin(request), "any_queue": overseer or bool(seated)},
    )


def _form_page(request, form: CouncilForm, council: Council | None, *, status: int = 200):
    return render(request, "feedback/council_form.html", {"form": form, "council": council}, status=status)


def _other_councils(request, council: Council | None):
    councils = selectors.councils_of(institution=request.institution)
    return councils.exclude(pk=council.pk) if council is not None else councils


@require_http_methods(["GET", "POST"])
def council_create(request, institution_slug: str):
    _require_admin(request)
    form = CouncilForm(
        request.POST or None, initial=CouncilForm.initial_for(None), councils=_other_councils(request, None)
    )
    if request.method == "POST" and form.is_valid():
        try:
            council = services.council_create(
                institution=request.institution, actor=request.user, **form.service_arguments()
            )
        except ApplicationError as error:
            add_service_errors(form, error)
            return _form_page(request, form, None, status=error.status)
        messages.success(request, _("The council was created."))
        return redirect("feedback:queue", institution_slug=request.institution.slug, council_id=council.pk)
    return _form_page(request, form, None, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
def council_edit(request, institution_slug: str, council_id: int):
    """Change a council's mandate or rules; open cases keep their deadline."""
    _require_admin(request)
    council = selectors.council_get(institution=request.institution, council_id=council_id)
    form = CouncilForm(
        request.POST or None, initial=CouncilForm.initial_for(council), councils=_other_councils(request, council)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.council_update(council=council, actor=request.user, **form.service_arguments())
        except ApplicationError as error:
            add_service_errors(form, error)
            return _form_page(request, form, council, status=error.status)
        messages.success(request, _("The council was saved."))
        return redirect("feedback:queue", institution_slug=request.institution.slug, council_id=council.pk)
    return _form_page(request, form, council, status=400 if request.method == "POST" else 200)


# --- the queue ------------------------------------------------------------------------------


@require_GET
def council_queue(request, institution_slug: str, council_id: int):
    """The council's cases: open ones by deadline, then the decided and escalated ones."""
    council = _council_for_queue(request, council_id)
    open_items, closed_items = selectors.queue_page(council=council)
    context = {
        "council": council,
        "mandate": mandate_in_words(council),
        "open_items": open_items,
        "closed_items": closed_items,
        "is_admin": _is_admin(request),
        "is_overseer": bool(request.institution_roles & selectors.OVERSEERS),
    }
    template = "feedback/_queue.html" if getattr(request, "htmx", False) else "feedback/queue.html"
    return render(request, template, context)


# --- one case -------------------------------------------------------------------------------


def record_fields(record, prefix: str = "") -> list[tuple[str, object]]:
    """The record as (field, value) rows; a nested field is named by its path (applicant.age)."""
    rows: list[tuple[str, object]] = []
    for name, value in (record or {}).items():
        path = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            rows.extend(record_fields(value, prefix=f"{path}."))
        else:
            rows.append((path, value))
    return rows


def _item_context(request, council: Council, item: ReviewItem) -> dict:
    votes = list(selectors.votes_of(item=item))
    recusals = list(selectors.recusals_of(item=item))
    seat = selectors.seat_of(council=council, user=request.user)
    proposals = list((item.case or {}).get("proposals") or [])
    public_cards = selectors.public_agent_cards(uids=[p.get("agent_uid") for p in proposals if p.get("agent_uid")])
    return {
        "council": council,
        "item": item,
        "case": item.case or {},
        "record_fields": record_fields((item.case or {}).get("record") or {}),
        "proposals": [{**p, "public_card": p.get("agent_uid") in public_cards} for p in proposals],
        "votes": votes,
        "recusals": recusals,
        "seat": seat,
        "my_vote": next((v for v in votes if seat is not None and v.member_id == seat.pk), None),
        "my_recusal": next((r for r in recusals if seat is not None and r.member_id == seat.pk), None),
        "is_open": item.status == ItemStatus.OPEN,
        "is_admin": _is_admin(request),
    }


def _item_page(request, council, item, *, vote_form=None, recuse_form=None, status=200):
    context = _item_context(request, council, item)
    context["vote_form"] = vote_form or VoteForm(item=item)
    context["recuse_form"] = recuse_form or RecuseForm()
    return render(request, "feedback/item.html", context, status=status)


@require_GET
def item_detail(request, institution_slug: str, council_id: int, item_id: int):
    """The case as the agents saw it, the votes so far, and the forms of a sitting member."""
    council = _council_for_queue(request, council_id)
    item = selectors.item_get(council=council, item_id=item_id)
    if getattr(request, "htmx", False):
        return render(request, "feedback/_item_live.html", _item_context(request, council, item))
    return _item_page(request, council, item)


@require_POST
def item_vote(request, institution_slug: str, council_id: int, item_id: int):
    council = _council_for_queue(request, council_id)
    item = selectors.item_get(council=council, item_id=item_id)
    form = VoteForm(request.POST, item=item)
    if not form.is_valid():
        return _item_page(request, council, item, vote_form=form, status=400)
    try:
        services.review_vote(
            item=item,
            user=request.user,
            choice=form.cleaned_data["choice"],
            reason=form.cleaned_data["reason"],
            amended_decision=form.cleaned_data.get("amended_decision") or "",
        )
    except ApplicationError as error:
        add_service_errors(form, error)
        item.refresh_from_db()
        return _item_page(request, council, item, vote_form=form, status=error.status)
    item.refresh_from_db()
    if item.status == ItemStatus.DECIDED:
        messages.success(request, _("Your vote was recorded, and it completed the verdict."))
    else:
        messages.success(request, _("Your vote was recorded."))
    return redirect("feedback:item", institution_slug=request.institution.slug, council_id=council.pk, item_id=item.pk)


@require_POST
def item_recuse(request, institution_slug: str, council_id: int, item_id: int):
    council = _council_for_queue(request, council_id)
    item = selectors.item_get(council=council, item_id=item_id)
    form = RecuseForm(request.POST)
    if not form.is_valid():
        return _item_page(request, council, item, recuse_form=form, status=400)
    try:
        services.review_recuse(item=item, user=request.user, conflict=form.cleaned_data["conflict"])
    except ApplicationError as error:
        add_service_errors(form, error)
        item.refresh_from_db()
        return _item_page(request, council, item, recuse_form=form, status=error.status)
    messages.success(request, _("You recused yourself from this case; you take no part in its verdict."))
    return redirect("feedback:item", institution_slug=request.institution.slug, council_id=council.pk, item_id=item.pk)


@require_POST
def item_apply_again(request, institution_slug: str, council_id: int, item_id: int):
    """An administrator applies a verdict again after the domain refused it."""
    _require_admin(request)
    council = _council_for_queue(request, council_id)
    item = selectors.item_get(council=council, item_id=item_id)
    try:
        item = services.review_item_apply_again(item=item, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        if item.applied_at:
            messages.success(request, _("The verdict is applied."))
        else:
            messages.error(
                request, _("The verdict still could not be applied: %(error)s") % {"error": item.apply_error}
            )
    return redirect("feedback:item", institution_slug=request.institution.slug, council_id=council.pk, item_id=item.pk)


# --- the public record ----------------------------------------------------------------------


def _pseudonymised(item: ReviewItem) -> dict:
    """What anyone may read of a verdict: no member, no citizen, no field of the record."""
    dissent = [
        {"vote": d.get("vote", ""), "amended_decision": d.get("amended_decision", ""), "reason": d.get("reason", "")}
        for d in item.dissent or []
    ]
    counts = {"approve": 0, "reject": 0, "amend": 0}
    counts[item.verdict] = counts.get(item.verdict, 0) + len(item.verdict_reasons or [])
    for d in dissent:
        counts[d["vote"]] = counts.get(d["vote"], 0) + 1
    return {
        "number": item.pk,
        "task_type": item.task_type,
        "impact": item.get_impact_display(),
        "kind": item.get_kind_display(),
        "question": item.question,
        "proposed_decision": item.proposed_decision,
        "verdict": item.get_verdict_display(),
        "decision": item.verdict_decision,
        "reasons": list(item.verdict_reasons or []),
        "dissent": dissent,
        "counts": counts,
        "submitted": item.created_at,
        "decided": item.decided_at,
    }


@require_GET
def public_record(request, slug: str, council_id: int):
    """Anyone reads the verdicts of a council with a public record, pseudonymised."""
    council = selectors.public_record_council(institution_slug=slug, council_id=council_id)
    with institution_scope(council.institution):
        page = Paginator(selectors.published_verdicts(council=council), RECORD_PER_PAGE).get_page(
            request.GET.get("page")
        )
        verdicts = [_pseudonymised(item) for item in page]
    return render(
        request,
        "feedback/public_record.html",
        {
            "council": council,
            "institution": council.institution,
            "verdicts": verdicts,
            "page": page,
            "mandate": mandate_in_words(council),
        },
    )

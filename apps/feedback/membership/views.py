"""Web pages of council membership, under /i/<institution_slug>/councils/<council_id>/, and
the public page of a draw by lot, under /councils/draws/<draw_id>/.

The tenancy middleware has already checked membership (outsiders get 404) and put the
institution in scope; these views check the role a page needs, parse, call one service
or selector, and render. The roles are the API's (apps/feedback/membership/api.py): any
member of the institution sees who sits on a council, the draws and how many volunteers
each stratum has, and may volunteer; administrators seat officials, end seats, draw by
lot, see who volunteered and share councils; auditors read what administrators read.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.feedback import draw as sortition
from apps.feedback import selectors as council_selectors
from apps.feedback import services as council_services
from apps.feedback.membership import selectors, services
from apps.feedback.membership.forms import (
    DrawForm,
    EndSeatForm,
    OfficialForm,
    ShareCouncilForm,
    ShareEndForm,
    VolunteerForm,
    add_service_errors,
)
from apps.feedback.models import Council, MemberKind
from apps.identity.models import User
from apps.tenancy.models import Role
from portal.errors import ApplicationError, ValidationFailed

OVERSEERS = frozenset({Role.INSTITUTION_ADMIN, Role.AUDITOR})


def _is_admin(request) -> bool:
    return Role.INSTITUTION_ADMIN in request.institution_roles


def _require_admin(request) -> None:
    if not _is_admin(request):
        raise PermissionDenied(_("Only an institution administrator can manage council members."))


def _council(request, council_id: int) -> Council:
    return council_selectors.council_get(institution=request.institution, council_id=council_id)


def _status(request) -> int:
    return 400 if request.method == "POST" else 200


def _base_context(request, council: Council) -> dict:
    return {
        "council": council,
        "is_admin": _is_admin(request),
        "is_overseer": bool(request.institution_roles & OVERSEERS),
        "sees_queue": council_selectors.can_see_queue(council=council, user=request.user),
    }


# --- members ------------------------------------------------------------------------------


@require_GET
def member_list(request, institution_slug: str, council_id: int):
    """Who sits on the council, with their kind and term; past seats below."""
    council = _council(request, council_id)
    today = timezone.localdate()
    seats = list(council_selectors.members_of(council=council))
    current = [m for m in seats if m.ended_at is None and m.term_end >= today]
    past = [m for m in seats if m not in current]
    context = {
        **_base_context(request, council),
        "current": current,
        "past": past,
        "today": today,
        "my_volunteer": selectors.volunteer_of(council=council, user=request.user),
        "volunteer_total": selectors.volunteers_of(council=council).count(),
        "shares": selectors.shares_of(institution=request.institution, council=council).filter(ended_at__isnull=True),
    }
    return render(request, "feedback/membership/members.html", context)


@require_http_methods(["GET", "POST"])
def member_add(request, institution_slug: str, council_id: int):
    """Seat an official for a term (administrators)."""
    _require_admin(request)
    council = _council(request, council_id)
    form = OfficialForm(request.POST if request.method == "POST" else None)
    context = {**_base_context(request, council), "form": form}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = User.objects.filter(username=data["username"]).first()
        try:
            if user is None:
                message = _("Only members of the institution can sit on its councils.")
                raise ValidationFailed(errors={"username": [message]})
            member = council_services.council_member_add(
                council=council,
                user=user,
                kind=MemberKind.OFFICIAL,
                term_start=data["term_start"],
                term_end=data["term_end"],
                actor=request.user,
            )
        except ApplicationError as error:
            add_service_errors(form, error)
            return render(request, "feedback/membership/member_add.html", context, status=error.status)
        messages.success(request, _("%(user)s now sits on the council as an official.") % {"user": member.user})
        return redirect("feedback:members", institution_slug=request.institution.slug, council_id=council.pk)
    return render(request, "feedback/membership/member_add.html", context, status=_status(request))


@require_http_methods(["GET", "POST"])
def member_end(request, institution_slug: str, council_id: int, member_id: int):
    """End a seat before its term, with the reason (administrators)."""
    _require_admin(request)
    council = _council(request, council_id)
    member = selectors.member_get(council=council, member_id=member_id)
    form = EndSeatForm(request.POST if request.method == "POST" else None)
    context = {**_base_context(request, council), "member": member, "form": form}
    if request.method == "POST" and form.is_valid():
        try:
            council_services.council_member_end(member=member, actor=request.user, reason=form.cleaned_data["reason"])
        except ApplicationError as error:
            add_service_errors(form, error)
            return render(request, "feedback/membership/member_end.html", context, status=error.status)
        messages.success(request, _("The seat has ended."))
        return redirect("feedback:members", institution_slug=request.institution.slug, council_id=council.pk)
    return render(request, "feedback/membership/member_end.html", context, status=_status(request))


# --- volunteers ---------------------------------------------------------------------------


@require_GET
def volunteer_list(request, institution_slug: str, council_id: int):
    """Administrators and auditors see who volunteered; everyone else how many per stratum."""
    council = _council(request, council_id)
    context = {
        **_base_context(request, council),
        "counts": selectors.volunteer_counts(council=council),
        "volunteers": selectors.volunteers_of(council=council) if request.institution_roles & OVERSEERS else None,
        "my_volunteer": selectors.volunteer_of(council=council, user=request.user),
    }
    return render(request, "feedback/membership/volunteers.html", context)


@require_http_methods(["GET", "POST"])
def volunteer(request, institution_slug: str, council_id: int):
    """Offer oneself to be drawn by lot, giving one's strata (any member of the institution)."""
    council = _council(request, council_id)
    mine = selectors.volunteer_of(council=council, user=request.user)
    initial = dict(mine.strata) if mine is not None else {}
    form = VolunteerForm(
        request.POST if request.method == "POST" else None, initial=initial, strata_fields=list(council.strata_fields)
    )
    context = {**_base_context(request, council), "form": form, "my_volunteer": mine}
    if request.method == "POST" and form.is_valid():
        try:
            services.council_volunteer(council=council, user=request.user, strata=form.cleaned_data)
        except ApplicationError as error:
            add_service_errors(form, error)
            return render(request, "feedback/membership/volunteer.html", context, status=error.status)
        messages.success(request, _("Thank you: you may be drawn at the council's next draw by lot."))
        return redirect("feedback:volunteers", institution_slug=request.institution.slug, council_id=council.pk)
    return render(request, "feedback/membership/volunteer.html", context, status=_status(request))


@require_POST
def volunteer_withdraw(request, institution_slug: str, council_id: int):
    council = _council(request, council_id)
    try:
        services.council_volunteer_withdraw(council=council, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("feedback:volunteers", institution_slug=request.institution.slug, council_id=council.pk)
    messages.success(request, _("You are no longer a volunteer for this council."))
    return redirect("feedback:volunteers", institution_slug=request.institution.slug, council_id=council.pk)


# --- draws --------------------------------------------------------------------------------


@require_GET
def draw_list(request, institution_slug: str, council_id: int):
    council = _council(request, council_id)
    context = {**_base_context(request, council), "draws": selectors.draws_of(council=council)}
    return render(request, "feedback/membership/draws.html", context)


@require_http_methods(["GET", "POST"])
def draw_create(request, institution_slug: str, council_id: int):
    """Draw citizens by lot from the volunteers (administrators)."""
    _require_admin(request)
    council = _council(request, council_id)
    form = DrawForm(request.POST if request.method == "POST" else None)
    context = {
        **_base_context(request, council),
        "form": form,
        "counts": selectors.volunteer_counts(council=council),
        "volunteer_total": selectors.volunteers_of(council=council).count(),
    }
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            record = services.council_draw(
                council=council,
                actor=request.user,
                seats=data["seats"],
                term_start=data["term_start"],
                term_end=data["term_end"],
                seed=data["seed"] or None,
            )
        except ApplicationError as error:
            add_service_errors(form, error)
            return render(request, "feedback/membership/draw_form.html", context, status=error.status)
        messages.success(request, _("The draw was made and recorded; the citizens drawn now sit on the council."))
        return redirect(
            "feedback:draw", institution_slug=request.institution.slug, council_id=council.pk, draw_id=record.pk
        )
    return render(request, "feedback/membership/draw_form.html", context, status=_status(request))


def rerun_context(record) -> dict:
    """What a draw page shows: the record, and the draw re-run from it here and now."""
    try:
        result = sortition.recompute(record)
        error = ""
    except sortition.DrawError as exc:
        result, error = None, str(exc)
    selected = set(record.selected)
    return {
        "draw": record,
        "quotas": sorted(record.quotas.items()),
        "rerun": result,
        "rerun_quotas": sorted(result.quotas.items()) if result else [],
        "rerun_error": error,
        "verified": sortition.verify(record),
        "candidates": [{**c, "selected": c["ref"] in selected} for c in record.candidates],
    }


@require_GET
def draw_detail(request, institution_slug: str, council_id: int, draw_id: int):
    council = _council(request, council_id)
    record = selectors.draw_get(council=council, draw_id=draw_id)
    context = {
        **_base_context(request, council),
        **rerun_context(record),
        "seated": list(record.members.select_related("user")) if request.institution_roles & OVERSEERS else None,
    }
    return render(request, "feedback/membership/draw_detail.html", context)


@require_GET
def public_draw(request, draw_id: int):
    """Anyone re-runs a draw: the record holds pseudonyms and strata, never a name."""
    record = selectors.public_draw_get(draw_id=draw_id)
    context = {**rerun_context(record), "council": record.council, "institution": record.institution}
    return render(request, "feedback/membership/draw_public.html", context)


# --- sharing ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def share_list(request, institution_slug: str, council_id: int):
    """The council's shares with other institutions (overseers); administrators propose one."""
    if not request.institution_roles & OVERSEERS:
        raise PermissionDenied(_("Your role in this institution does not allow this."))
    council = _council(request, council_id)
    form = (
        ShareCouncilForm(request.POST if request.method == "POST" else None, initial={"council": council.pk})
        if _is_admin(request)
        else None
    )
    context = {
        **_base_context(request, council),
        "shares": selectors.shares_of(institution=request.institution, council=council),
        "form": form,
    }
    if request.method == "POST":
        _require_admin(request)
        if not form.is_valid():
            return render(request, "feedback/membership/shares.html", context, status=400)
        try:
            proposal = services.council_share_propose(
                council=council, shared_with_slug=form.cleaned_data["shared_with"], actor=request.user
            )
        except ApplicationError as error:
            add_service_errors(form, error)
            return render(request, "feedback/membership/shares.html", context, status=error.status)
        messages.success(
            request, _("Sharing was proposed. The authorities, the other institution among them, can now sign it.")
        )
        return redirect("trust:proposal", institution_slug=request.institution.slug, proposal_id=proposal.pk)
    return render(request, "feedback/membership/shares.html", context)


@require_http_methods(["GET", "POST"])
def share_end(request, institution_slug: str, share_id: int):
    """End a share (an administrator of either institution)."""
    _require_admin(request)
    share = selectors.share_get(institution=request.institution, share_id=share_id)
    form = ShareEndForm(request.POST if request.method == "POST" else None)
    context = {"share": share, "form": form}
    if request.method == "POST" and form.is_valid():
        try:
            services.council_share_end(
                share=share, actor=request.user, reason=form.cleaned_data["reason"], institution=request.institution
            )
        except ApplicationError as error:
            add_service_errors(form, error)
            return render(request, "feedback/membership/share_end.html", context, status=error.status)
        messages.success(request, _("The council is no longer shared."))
        return redirect("feedback:shared", institution_slug=request.institution.slug)
    return render(request, "feedback/membership/share_end.html", context, status=_status(request))


@require_GET
def shared_councils(request, institution_slug: str):
    """Councils shared between this institution and others, both ways (overseers)."""
    if not request.institution_roles & OVERSEERS:
        raise PermissionDenied(_("Your role in this institution does not allow this."))
    context = {
        "is_admin": _is_admin(request),
        "ours": selectors.shares_of(institution=request.institution),
        "theirs": selectors.councils_shared_with(institution=request.institution),
    }
    return render(request, "feedback/membership/shared.html", context)

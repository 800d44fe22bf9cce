"""Inspection and violation pages under /i/<slug>/permits/ (the tenancy middleware has answered 404 to
non-members): the staff's inspection list, an inspection's page, the inspector's phone-sized report
page, and the forms that schedule inspections and cure or waive violations (shown on the permit page)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.permits import inspections, selectors, services
from apps.permits.models import InspectionKind, InspectionStatus
from apps.permits.views import STAFF_ROLES, _form_errors_from, _require
from apps.tenancy.models import Membership, Role
from portal.errors import ApplicationError

PER_PAGE = 50
SHOW = {
    "mine": gettext_lazy("My inspections"),
    "due": gettext_lazy("Due within a week"),
    "all": gettext_lazy("All"),
}
DUE_WITHIN_DAYS = 7
MET, NOT_MET = "met", "not_met"


# --- forms ---------------------------------------------------------------------------------------------


class ReportForm(forms.Form):
    """One met / not met pair and a note per condition (`condition_<i>`, `note_<i>`), and general notes.
    Nothing is required here: the service says what is missing, so the page and the API agree."""

    notes = forms.CharField(
        label=gettext_lazy("General notes (optional)"),
        required=False,
        max_length=inspections.NOTE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, conditions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.conditions = conditions
        for index, condition in enumerate(conditions):
            self.fields[f"condition_{index}"] = forms.ChoiceField(
                label=condition,
                required=False,
                choices=[(MET, _("Met")), (NOT_MET, _("Not met"))],
                widget=forms.RadioSelect,
            )
            self.fields[f"note_{index}"] = forms.CharField(
                label=_("Note"),
                required=False,
                max_length=inspections.NOTE_MAX_CHARS,
                widget=forms.Textarea(attrs={"rows": 2}),
                help_text=_("Required when not met: what is wrong; the holder reads it."),
            )

    def findings(self) -> list[dict]:
        data = self.cleaned_data
        return [
            {
                "condition": condition,
                "met": {MET: True, NOT_MET: False}.get(data.get(f"condition_{index}")),
                "note": data.get(f"note_{index}", ""),
            }
            for index, condition in enumerate(self.conditions)
        ]

    def rows(self) -> list[dict]:
        """What the template walks: each condition with its radio pair and note."""
        return [
            {
                "index": index,
                "condition": condition,
                "choice": self[f"condition_{index}"],
                "note": self[f"note_{index}"],
            }
            for index, condition in enumerate(self.conditions)
        ]


class ScheduleForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind of inspection"),
        choices=[
            (InspectionKind.ROUTINE, gettext_lazy("Routine")),
            (InspectionKind.FOLLOW_UP, gettext_lazy("Follow-up of a violation")),
        ],
        widget=forms.RadioSelect,
        initial=InspectionKind.ROUTINE,
    )


class ResolutionForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,
        max_length=services.REASON_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("The holder reads this."),
    )

    def __init__(self, *args, **kwargs):
        # ids of their own: the permit page also has the status form's `reason`
        kwargs.setdefault("auto_id", "id_resolution_%s")
        super().__init__(*args, **kwargs)


class AssignForm(forms.Form):
    inspector = forms.ChoiceField(label=gettext_lazy("Inspector"), choices=())

    def __init__(self, *args, institution, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["inspector"].choices = [("", _("Choose a civil servant"))] + [
            (str(user.pk), str(user.get_full_name() or user.username)) for user in _civil_servants(institution)
        ]


def _civil_servants(institution) -> list:
    members = (
        Membership.objects.filter(institution=institution, role=Role.CIVIL_SERVANT)
        .select_related("user")
        .order_by("user__username")
    )
    return [m.user for m in members]


# --- pages ------------------------------------------------------------------------------------------


@require_GET
def inspection_list(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require(request, STAFF_ROLES, _("Only the institution's staff see inspections."))
    show = request.GET.get("show", "mine" if Role.CIVIL_SERVANT in request.institution_roles else "all")
    show = show if show in SHOW else "all"
    status = request.GET.get("status", "")
    status = status if status in InspectionStatus.values else ""
    qs = inspections.inspections_of_institution(
        institution=request.institution,
        status=status,
        inspector=request.user if show == "mine" else None,
        due_by=timezone.localdate() + timezone.timedelta(days=DUE_WITHIN_DAYS) if show == "due" else None,
    )
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "permits/inspections/list.html",
        {
            "page_obj": page_obj,
            "show": show,
            "shows": SHOW.items(),
            "status": status,
            "statuses": InspectionStatus.choices,
            "today": timezone.localdate(),
        },
    )


def _inspection_page(request, inspection, *, status=200, cancel_form=None, assign_form=None) -> HttpResponse:
    roles = request.institution_roles
    return render(
        request,
        "permits/inspections/detail.html",
        {
            "inspection": inspection,
            "violations": inspection.violations.all(),
            "is_open": inspection.status in inspections.OPEN_INSPECTION,
            "can_report": bool(roles & inspections.INSPECTOR_ROLES) and inspection.status == InspectionStatus.SCHEDULED,
            "can_schedule": bool(roles & inspections.SCHEDULER_ROLES),
            "is_admin": Role.INSTITUTION_ADMIN in roles,
            "is_inspector": Role.CIVIL_SERVANT in roles,
            "cancel_form": cancel_form or ResolutionForm(),
            "assign_form": assign_form or AssignForm(institution=request.institution),
        },
        status=status,
    )


@require_GET
def inspection_detail(request: HttpRequest, institution_slug: str, inspection_id: int) -> HttpResponse:
    _require(request, STAFF_ROLES, _("Only the institution's staff see inspections."))
    inspection = inspections.inspection_get(institution=request.institution, inspection_id=inspection_id)
    return _inspection_page(request, inspection)


@require_http_methods(["GET", "POST"])
def inspection_report(request: HttpRequest, institution_slug: str, inspection_id: int) -> HttpResponse:
    """The inspector's page, made for a phone: one column, a met / not met pair and a note per condition."""
    _require(request, inspections.INSPECTOR_ROLES, _("Only the institution's inspectors (civil servants) report."))
    inspection = inspections.inspection_get(institution=request.institution, inspection_id=inspection_id)
    conditions = list(inspection.permit.permit_type.conditions)
    status = 200
    if request.method == "POST":
        form = ReportForm(request.POST, conditions=conditions)
        if form.is_valid():
            try:
                inspections.inspection_report(
                    inspection=inspection,
                    actor=request.user,
                    findings=form.findings(),
                    notes=form.cleaned_data["notes"],
                )
            except ApplicationError as error:
                _form_errors_from(form, error)
            else:
                messages.success(request, _("The report is filed."))
                return redirect("permits:inspection", institution_slug=institution_slug, inspection_id=inspection.pk)
        status = 400
    else:
        form = ReportForm(conditions=conditions)
    return render(
        request,
        "permits/inspections/report.html",
        {"inspection": inspection, "form": form, "reportable": inspection.status == InspectionStatus.SCHEDULED},
        status=status,
    )


@require_POST
def inspection_assign(request: HttpRequest, institution_slug: str, inspection_id: int) -> HttpResponse:
    _require(request, inspections.SCHEDULER_ROLES, _("Only civil servants and administrators assign inspections."))
    inspection = inspections.inspection_get(institution=request.institution, inspection_id=inspection_id)
    form = AssignForm(request.POST, institution=request.institution)
    if request.POST.get("myself"):
        inspector = request.user
    elif form.is_valid():
        chosen = form.cleaned_data["inspector"]
        inspector = next((u for u in _civil_servants(request.institution) if str(u.pk) == chosen), None)
    else:
        return _inspection_page(request, inspection, status=400, assign_form=form)
    try:
        inspections.inspection_assign(inspection=inspection, actor=request.user, inspector=inspector)
    except ApplicationError as error:
        _form_errors_from(form, error)
        return _inspection_page(request, inspection, status=400, assign_form=form)
    messages.success(request, _("The inspection is assigned."))
    return redirect("permits:inspection", institution_slug=institution_slug, inspection_id=inspection.pk)


@require_POST
def inspection_cancel(request: HttpRequest, institution_slug: str, inspection_id: int) -> HttpResponse:
    _require(request, inspections.SCHEDULER_ROLES, _("Only civil servants and administrators cancel inspections."))
    inspection = inspections.inspection_get(institution=request.institution, inspection_id=inspection_id)
    form = ResolutionForm(request.POST)
    if form.is_valid():
        try:
            inspections.inspection_cancel(inspection=inspection, actor=request.user, reason=form.cleaned_data["reason"])
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("The inspection is cancelled."))
            return redirect("permits:inspection", institution_slug=institution_slug, inspection_id=inspection.pk)
    return _inspection_page(request, inspection, status=400, cancel_form=form)


# --- from the permit page ---------------------------------------------------------------------------


def permit_enforcement_context(request, permit, *, schedule_form=None, resolution_form=None, failed_violation=None):
    """What the permit page shows of inspections and violations (`views._permit_page` adds it); a form
    that failed comes back with what was entered and its errors, next to its own violation."""
    roles = request.institution_roles
    is_staff = bool(roles & STAFF_ROLES)
    return {
        "inspections": inspections.inspections_of_permit(permit=permit) if is_staff else [],
        "violations": inspections.violations_of_permit(permit=permit).select_related("inspection"),
        "can_schedule": bool(roles & inspections.SCHEDULER_ROLES),
        "can_cure": bool(roles & inspections.INSPECTOR_ROLES),
        "can_waive": bool(roles & inspections.WAIVER_ROLES),
        "schedule_form": schedule_form or ScheduleForm(),
        "resolution_form": resolution_form,
        "failed_violation": failed_violation,
        "blank_resolution_form": ResolutionForm(),
    }


@require_POST
def permit_inspection_schedule(request: HttpRequest, institution_slug: str, permit_id: int) -> HttpResponse:
    _require(request, inspections.SCHEDULER_ROLES, _("Only civil servants and administrators schedule inspections."))
    permit = selectors.permit_get(institution=request.institution, permit_id=permit_id)
    form = ScheduleForm(request.POST)
    if form.is_valid():
        try:
            inspection = inspections.inspection_schedule(
                permit=permit, kind=form.cleaned_data["kind"], actor=request.user
            )
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("The inspection is scheduled."))
            return redirect("permits:inspection", institution_slug=institution_slug, inspection_id=inspection.pk)
    return _enforcement_page(request, permit, schedule_form=form)


def _resolve(request, institution_slug: str, violation_id: int, *, cure: bool) -> HttpResponse:
    roles = inspections.INSPECTOR_ROLES if cure else inspections.WAIVER_ROLES
    _require(
        request,
        roles,
        _("Only civil servants confirm a cure.") if cure else _("Only administrators waive violations."),
    )
    violation = inspections.violation_get(institution=request.institution, violation_id=violation_id)
    form = ResolutionForm(request.POST)
    if form.is_valid():
        try:
            if cure:
                inspections.violation_cure(
                    violation=violation, actor=request.user, resolution=form.cleaned_data["reason"]
                )
            else:
                inspections.violation_waive(violation=violation, actor=request.user, reason=form.cleaned_data["reason"])
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("The violation is closed."))
            return redirect("permits:permit", institution_slug=institution_slug, permit_id=violation.permit_id)
    permit = selectors.permit_get(institution=request.institution, permit_id=violation.permit_id)
    return _enforcement_page(request, permit, resolution_form=form, failed_violation=violation.pk)


@require_POST
def violation_cure(request: HttpRequest, institution_slug: str, violation_id: int) -> HttpResponse:
    return _resolve(request, institution_slug, violation_id, cure=True)


@require_POST
def violation_waive(request: HttpRequest, institution_slug: str, violation_id: int) -> HttpResponse:
    return _resolve(request, institution_slug, violation_id, cure=False)


def _enforcement_page(request, permit, **failed) -> HttpResponse:
    from apps.permits import views

    return views._permit_page(request, permit, status=400, enforcement=failed)

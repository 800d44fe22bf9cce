"""Permit pages under /i/<slug>/permits/ (the tenancy middleware has answered 404 to non-members):
citizens apply and follow their applications, civil servants decide, administrators define types and
enforce permits."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.identity.views import qr_svg, verify_url
from apps.permits import forms, review, schema, selectors, services, uploads
from apps.permits.models import ApplicationStatus, PermitStatus
from portal.errors import ApplicationError, ValidationFailed

PER_PAGE = 50
STAFF_ROLES = frozenset({"civil_servant", "institution_admin", "auditor"})


def _form_errors_from(form, error: ApplicationError) -> None:
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if field_errors:
        for field, field_messages in field_errors.items():
            name = field if field in form.fields else f"attachment__{field}"
            for message in field_messages:
                form.add_error(name if name in form.fields else None, str(message))
    else:
        form.add_error(None, error.message)


def _require(request, roles: frozenset, message: str) -> None:
    if not request.institution_roles & roles:
        raise PermissionDenied(message)


@require_GET
def home(request: HttpRequest, institution_slug: str) -> HttpResponse:
    institution = request.institution
    roles = request.institution_roles
    return render(
        request,
        "permits/home.html",
        {
            "permit_types": selectors.permit_types_of_institution(institution=institution, active_only=True),
            "applications": selectors.applications_of_applicant(institution=institution, user=request.user)[:PER_PAGE],
            "permits": selectors.permits_of_institution(institution=institution, holder=request.user)[:PER_PAGE],
            "can_apply": bool(roles & services.APPLICANT_ROLES),
            "is_decider": bool(roles & services.DECIDER_ROLES),
            "is_admin": bool(roles & services.ADMIN_ROLES),
            "is_staff": bool(roles & STAFF_ROLES),
        },
    )


# --- permit types (administrators) -------------------------------------------------------------


def _type_values(form) -> dict:
    data = dict(form.cleaned_data)
    data["fields"] = data.pop("field_schema")
    if data.get("cure_days") is None:
        data.pop("cure_days", None)
    return data


@require_GET
def type_list(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require(request, services.ADMIN_ROLES, _("Only administrators manage permit types."))
    return render(
        request,
        "permits/type_list.html",
        {"permit_types": selectors.permit_types_of_institution(institution=request.institution)},
    )


@require_http_methods(["GET", "POST"])
def type_create(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require(request, services.ADMIN_ROLES, _("Only administrators manage permit types."))
    form = forms.PermitTypeForm(request.POST or None, institution=request.institution)
    if request.method == "POST" and form.is_valid():
        try:
            permit_type = services.permit_type_create(
                institution=request.institution, actor=request.user, **_type_values(form)
            )
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("Permit type “%(name)s” created.") % {"name": permit_type.name})
            return redirect("permits:type_list", institution_slug=institution_slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "permits/type_form.html", {"form": form, "permit_type": None}, status=status)


@require_http_methods(["GET", "POST"])
def type_edit(request: HttpRequest, institution_slug: str, type_slug: str) -> HttpResponse:
    _require(request, services.ADMIN_ROLES, _("Only administrators manage permit types."))
    permit_type = selectors.permit_type_get(institution=request.institution, slug=type_slug)
    initial = {
        "name": permit_type.name,
        "slug": permit_type.slug,
        "description": permit_type.description,
        "field_schema": json.dumps(permit_type.fields, indent=2, ensure_ascii=False),
        "attachments": ", ".join(permit_type.attachments),
        "fee_amount": permit_type.fee_amount,
        "fee_currency": permit_type.fee_currency,
        "validity_days": permit_type.validity_days,
        "cluster": permit_type.cluster,
        "council": permit_type.council,
        "process_key": permit_type.process_key,
        "conditions": "\n".join(permit_type.conditions),
        "inspection_cluster": permit_type.inspection_cluster,
        "cure_days": permit_type.cure_days,
        "active": permit_type.active,
    }
    form = forms.PermitTypeForm(request.POST or None, initial=initial, institution=request.institution)
    if request.method == "POST" and form.is_valid():
        try:
            services.permit_type_update(permit_type=permit_type, actor=request.user, **_type_values(form))
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("Permit type saved."))
            return redirect("permits:type_list", institution_slug=institution_slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "permits/type_form.html", {"form": form, "permit_type": permit_type}, status=status)


# --- applying ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest, institution_slug: str, type_slug: str) -> HttpResponse:
    _require(request, services.APPLICANT_ROLES, _("Only citizens and businesses of the institution apply."))
    permit_type = selectors.permit_type_get(institution=request.institution, slug=type_slug)
    if not permit_type.active:
        raise Http404
    form_class = forms.application_form_class(permit_type)
    if request.method == "GET":
        return render(request, "permits/apply.html", {"form": form_class(), "permit_type": permit_type})
    form = form_class(request.POST, request.FILES)
    if form.is_valid():
        answers, files = forms.split_application_form(form)
        try:
            application = services.application_create(
                permit_type=permit_type, applicant=request.user, data=answers, files=files
            )
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("Your application was sent."))
            return redirect("permits:application", institution_slug=institution_slug, application_id=application.pk)
    return render(request, "permits/apply.html", {"form": form, "permit_type": permit_type}, status=400)


# --- applications ----------------------------------------------------------------------------


@require_GET
def application_list(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require(request, STAFF_ROLES, _("Only the institution's staff see every application."))
    status = request.GET.get("status", "queue")
    if status not in ApplicationStatus.values and status not in {"queue", "all"}:
        status = "queue"
    qs = selectors.applications_of_institution(
        institution=request.institution, status="" if status == "all" else status
    )
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "permits/application_list.html",
        {"page_obj": page_obj, "status": status, "statuses": ApplicationStatus.choices},
    )


def _next_steps(application) -> list[str]:
    from apps.bpm.models import InstanceStatus

    instance = application.process_instance
    if instance is None or instance.status != InstanceStatus.RUNNING:
        return []
    return [step["name"] for step in instance.active_steps]


def _application_page(request, application, *, status=200, **forms_given) -> HttpResponse:
    roles = request.institution_roles
    is_applicant = application.applicant_id == request.user.pk
    context = {
        "application": application,
        "answers": schema.answers_for_people(fields=application.permit_type.fields, answers=application.data),
        "timeline": selectors.application_timeline(application=application),
        "is_applicant": is_applicant,
        "is_decider": bool(roles & services.DECIDER_ROLES),
        "is_staff": bool(roles & STAFF_ROLES),
        "can_decide": bool(roles & services.DECIDER_ROLES) and services.awaits_decision(application),
        # staff follow the application's process (and learn when it stopped on an error); the applicant
        # reads the steps it waits at, in the words of the diagram
        "process": application.process_instance if roles & STAFF_ROLES else None,
        "next_steps": _next_steps(application) if is_applicant else [],
        "decide_form": forms_given.get("decide_form") or forms.ReasonForm(),
        "question_form": forms_given.get("question_form") or forms.QuestionForm(),
        "answer_form": forms_given.get("answer_form") or forms.AnswerForm(),
        "appeal_form": forms_given.get("appeal_form") or forms.AppealForm(),
        "can_appeal": is_applicant
        and application.status == ApplicationStatus.REFUSED
        and review.appeal_of(application=application) is None,
        "permit": getattr(application, "permit", None) if application.status == ApplicationStatus.ISSUED else None,
        "error": forms_given.get("error"),
    }
    return render(request, "permits/application.html", context, status=status)


def _visible(request, application_id: int):
    return selectors.application_visible_get(
        institution=request.institution,
        application_id=application_id,
        user=request.user,
        roles=request.institution_roles,
    )


@require_GET
def application_detail(request: HttpRequest, institution_slug: str, application_id: int) -> HttpResponse:
    return _application_page(request, _visible(request, application_id))


@require_POST
def application_withdraw(request: HttpRequest, institution_slug: str, application_id: int) -> HttpResponse:
    application = _visible(request, application_id)
    try:
        services.application_withdraw(application=application, actor=request.user)
    except ApplicationError as error:
        return _application_page(request, application, status=error.status, error=error)
    messages.success(request, _("Your application was withdrawn."))
    return redirect("permits:application", institution_slug=institution_slug, application_id=application.pk)


@require_POST
def application_answer(request: HttpRequest, institution_slug: str, application_id: int) -> HttpResponse:
    application = _visible(request, application_id)
    form = forms.AnswerForm(request.POST)
    if form.is_valid():
        try:
            services.application_answer(application=application, actor=request.user, answer=form.cleaned_data["answer"])
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("Your answer was sent."))
            return redirect("permits:application", institution_slug=institution_slug, application_id=application.pk)
    return _application_page(request, application, status=400, answer_form=form)


@require_POST
def application_appeal(request: HttpRequest, institution_slug: str, application_id: int) -> HttpResponse:
    application = _visible(request, application_id)
    form = forms.AppealForm(request.POST)
    if form.is_valid():
        try:
            review.application_appeal(
                application=application, person=request.user, grounds=form.cleaned_data["grounds"]
            )
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("Your appeal is before the council."))
            return redirect("permits:application", institution_slug=institution_slug, application_id=application.pk)
    return _application_page(request, application, status=400, appeal_form=form)


@require_POST
def application_decide(request: HttpRequest, institution_slug: str, application_id: int) -> HttpResponse:
    _require(request, services.DECIDER_ROLES, _("Only civil servants decide applications."))
    application = selectors.application_get(institution=request.institution, application_id=application_id)
    form = forms.ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.application_decide(
                application=application,
                actor=request.user,
                approve=request.POST.get("decision") == "approve",
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("Decision recorded."))
            return redirect("permits:application", institution_slug=institution_slug, application_id=application.pk)
    return _application_page(request, application, status=400, decide_form=form)


@require_POST
def application_request_information(request: HttpRequest, institution_slug: str, application_id: int) -> HttpResponse:
    _require(request, services.DECIDER_ROLES, _("Only civil servants ask for information."))
    application = selectors.application_get(institution=request.institution, application_id=application_id)
    form = forms.QuestionForm(request.POST)
    if form.is_valid():
        try:
            services.application_request_information(
                application=application, actor=request.user, question=form.cleaned_data["question"]
            )
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("The applicant was asked."))
            return redirect("permits:application", institution_slug=institution_slug, application_id=application.pk)
    return _application_page(request, application, status=400, question_form=form)


@require_GET
def application_attachment(
    request: HttpRequest, institution_slug: str, application_id: int, attachment_name: str
) -> HttpResponse:
    """Staff open an attachment: images sandboxed, PDFs as downloads, never cached (as residence documents)."""
    _require(request, STAFF_ROLES, _("Only the institution's staff open attachments."))
    application = selectors.application_get(institution=request.institution, application_id=application_id)
    attachment = next((a for a in application.attachments if a["name"] == attachment_name), None)
    if attachment is None:
        raise Http404
    try:
        handle = uploads.attachment_open(attachment["path"])
    except FileNotFoundError:
        # the application is there, its file is not (removed from storage): gone, not "no such page"
        return HttpResponse(_("This file is no longer stored."), status=410, content_type="text/plain; charset=utf-8")
    is_pdf = attachment["content_type"] == "application/pdf"
    response = FileResponse(
        handle, content_type=attachment["content_type"], as_attachment=is_pdf, filename=f"{attachment_name}"
    )
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- permits -----------------------------------------------------------------------------------


@require_GET
def permit_list(request: HttpRequest, institution_slug: str) -> HttpResponse:
    holder = None if request.institution_roles & STAFF_ROLES else request.user
    qs = selectors.permits_of_institution(institution=request.institution, holder=holder)
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "permits/permit_list.html", {"page_obj": page_obj, "all_permits": holder is None})


def _permit_page(request, permit, *, form=None, status=200, enforcement=None) -> HttpResponse:
    from apps.permits.inspection_views import permit_enforcement_context

    link = verify_url(permit.credential.uuid)
    renewal = services.renewal_open(permit)  # once: the button and the link to it read it
    return render(
        request,
        "permits/permit.html",
        {
            "permit": permit,
            "answers": schema.answers_for_people(fields=permit.permit_type.fields, answers=permit.application.data),
            "verify_link": link,
            "qr": mark_safe(qr_svg(link)),  # generated by qrcode from our own URL
            "is_admin": bool(request.institution_roles & services.ADMIN_ROLES),
            "can_renew": permit.holder_id == request.user.pk
            and permit.status in services.RENEWABLE_STATUSES
            and renewal is None,
            "renewal": renewal,
            "form": form or forms.ReasonForm(),
            "PermitStatus": PermitStatus,
            # inspections and violations (apps/permits/inspection_views.py)
            **permit_enforcement_context(request, permit, **(enforcement or {})),
        },
        status=status,
    )


@require_GET
def permit_detail(request: HttpRequest, institution_slug: str, permit_id: int) -> HttpResponse:
    permit = selectors.permit_visible_get(
        institution=request.institution, permit_id=permit_id, user=request.user, roles=request.institution_roles
    )
    return _permit_page(request, permit)


_ENFORCEMENT = {
    "suspend": services.permit_suspend,
    "reinstate": services.permit_reinstate,
    "revoke": services.permit_revoke,
}


@require_POST
def permit_status(request: HttpRequest, institution_slug: str, permit_id: int) -> HttpResponse:
    _require(request, services.ADMIN_ROLES, _("Only administrators suspend, reinstate or revoke permits."))
    permit = selectors.permit_get(institution=request.institution, permit_id=permit_id)
    change = _ENFORCEMENT.get(request.POST.get("action", ""))
    form = forms.ReasonForm(request.POST)
    if change is None:
        form.add_error(None, _("Choose suspend, reinstate or revoke."))
    elif form.is_valid():
        try:
            change(permit=permit, actor=request.user, reason=form.cleaned_data["reason"])
        except ApplicationError as error:
            _form_errors_from(form, error)
        else:
            messages.success(request, _("The permit's status changed; verifiers see it now."))
            return redirect("permits:permit", institution_slug=institution_slug, permit_id=permit.pk)
    return _permit_page(request, permit, form=form, status=400)


@require_POST
def permit_renew(request: HttpRequest, institution_slug: str, permit_id: int) -> HttpResponse:
    """The holder renews with the answers and attachments of the permit; they can be changed if asked."""
    permit = selectors.permit_visible_get(
        institution=request.institution, permit_id=permit_id, user=request.user, roles=request.institution_roles
    )
    try:
        application = services.application_renew(permit=permit, applicant=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("permits:permit", institution_slug=institution_slug, permit_id=permit.pk)
    messages.success(request, _("Your renewal was sent."))
    return redirect("permits:application", institution_slug=institution_slug, application_id=application.pk)

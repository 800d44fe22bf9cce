"""Residence pages: the applicant's (/residence/, any signed-in person) and the municipality's queue
(/i/<slug>/residence/, its civil servants; the tenancy middleware has answered 404 to non-members)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.identity.models import ResidenceRequestStatus
from apps.identity.residence import selectors, services, uploads
from portal.errors import ApplicationError, ValidationFailed

REQUESTS_PER_PAGE = 50


def _form_errors_from(form: forms.Form, error: ApplicationError) -> None:
    """A domain error on the form: on its field when the service named one, else on top."""
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if field_errors:
        for field, field_messages in field_errors.items():
            for message in field_messages:
                form.add_error(field if field in form.fields else None, str(message))
    else:
        form.add_error(None, error.message)


# --- The applicant -------------------------------------------------------------------


class ResidenceApplyForm(forms.Form):
    municipality = forms.ModelChoiceField(
        label=gettext_lazy("Municipality"),
        queryset=selectors.municipalities(),
        empty_label=gettext_lazy("Choose…"),
        help_text=gettext_lazy("The municipality you live in. Its civil servants check your request."),
    )
    address_line1 = forms.CharField(
        label=gettext_lazy("Street and number"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
    )
    address_line2 = forms.CharField(
        label=gettext_lazy("Address, second line (optional)"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    postcode = forms.CharField(
        label=gettext_lazy("Postcode"), max_length=20, widget=forms.TextInput(attrs={"autocomplete": "postal-code"})
    )
    city = forms.CharField(
        label=gettext_lazy("Town or city"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    document = forms.FileField(
        label=gettext_lazy("Supporting document (optional)"),
        required=False,
        help_text=gettext_lazy("A lease, a utility bill or a deed in your name: PDF, PNG or JPEG, at most 5 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"}),
    )


@login_required
@require_GET
def my_requests(request: HttpRequest) -> HttpResponse:
    residence_requests = selectors.residence_requests_of_applicant(user=request.user)[:REQUESTS_PER_PAGE]
    return render(request, "identity/residence/mine.html", {"residence_requests": residence_requests})


@login_required
@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        initial = {}
        slug = request.GET.get("municipality", "")
        if slug:
            initial["municipality"] = selectors.municipalities().filter(slug=slug).first()
        return render(request, "identity/residence/apply.html", {"form": ResidenceApplyForm(initial=initial)})
    form = ResidenceApplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "identity/residence/apply.html", {"form": form}, status=400)
    data = form.cleaned_data
    try:
        services.residence_request_submit(
            applicant=request.user,
            municipality=data["municipality"],
            address_line1=data["address_line1"],
            address_line2=data["address_line2"],
            postcode=data["postcode"],
            city=data["city"],
            document=data["document"] or None,
        )
    except ApplicationError as error:
        _form_errors_from(form, error)
        return render(request, "identity/residence/apply.html", {"form": form}, status=error.status)
    messages.success(
        request,
        _("Your request was sent to %(m)s. You will be told when a civil servant has decided.")
        % {"m": data["municipality"].name},
    )
    return redirect("residence:mine")


@login_required
@require_POST
def withdraw(request: HttpRequest, request_id: int) -> HttpResponse:
    residence_request = selectors.residence_request_of_applicant(user=request.user, request_id=request_id)
    try:
        services.residence_request_withdraw(residence_request=residence_request, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Your request was withdrawn."))
    return redirect("residence:mine")


# --- The municipality's queue -------------------------------------------------------------


class ResidenceRejectForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=services.REASON_MAX_CHARS,
        help_text=gettext_lazy("The applicant reads this. Say what is missing or wrong."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _require_decider(request: HttpRequest) -> None:
    if not request.institution_roles & services.RESIDENCE_DECIDER_ROLES:
        raise PermissionDenied(_("Only the municipality's civil servants work on residence requests."))


@require_GET
def queue(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require_decider(request)
    status = request.GET.get("status", ResidenceRequestStatus.SUBMITTED)
    if status not in ResidenceRequestStatus.values and status != "all":
        status = ResidenceRequestStatus.SUBMITTED
    qs = selectors.residence_requests_of_institution(
        institution=request.institution, status="" if status == "all" else status
    )
    page_obj = Paginator(qs, REQUESTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "identity/residence/queue.html",
        {"page_obj": page_obj, "status": status, "statuses": ResidenceRequestStatus.choices},
    )


def _detail(request, residence_request, *, reject_form=None, status=200) -> HttpResponse:
    return render(
        request,
        "identity/residence/detail.html",
        {"residence_request": residence_request, "reject_form": reject_form or ResidenceRejectForm()},
        status=status,
    )


@require_GET
def detail(request: HttpRequest, institution_slug: str, residence_request_id: int) -> HttpResponse:
    _require_decider(request)
    residence_request = selectors.residence_request_get(
        institution=request.institution, request_id=residence_request_id
    )
    return _detail(request, residence_request)


@require_POST
def approve(request: HttpRequest, institution_slug: str, residence_request_id: int) -> HttpResponse:
    _require_decider(request)
    residence_request = selectors.residence_request_get(
        institution=request.institution, request_id=residence_request_id
    )
    try:
        services.residence_request_approve(residence_request=residence_request, actor=request.user)
    except ApplicationError as error:
        form = ResidenceRejectForm()
        return render(
            request,
            "identity/residence/detail.html",
            {"residence_request": residence_request, "reject_form": form, "error": error},
            status=error.status,
        )
    messages.success(
        request,
        _("Residence confirmed: %(person)s has a residence credential.") % {"person": residence_request.applicant},
    )
    return redirect("residence-queue:list", institution_slug=request.institution.slug)


@require_POST
def reject(request: HttpRequest, institution_slug: str, residence_request_id: int) -> HttpResponse:
    _require_decider(request)
    residence_request = selectors.residence_request_get(
        institution=request.institution, request_id=residence_request_id
    )
    form = ResidenceRejectForm(request.POST)
    if not form.is_valid():
        return _detail(request, residence_request, reject_form=form, status=400)
    try:
        services.residence_request_reject(
            residence_request=residence_request, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except ApplicationError as error:
        _form_errors_from(form, error)
        return _detail(request, residence_request, reject_form=form, status=error.status)
    messages.success(request, _("The request of %(person)s was rejected.") % {"person": residence_request.applicant})
    return redirect("residence-queue:list", institution_slug=request.institution.slug)


@require_GET
def document(request: HttpRequest, institution_slug: str, residence_request_id: int) -> FileResponse:
    """The uploaded document, to the municipality's civil servants only; never from a public URL."""
    _require_decider(request)
    residence_request = selectors.residence_request_get(
        institution=request.institution, request_id=residence_request_id
    )
    if not residence_request.document_path:
        raise Http404
    try:
        handle = uploads.document_open(residence_request.document_path)
    except FileNotFoundError as exc:
        raise Http404 from exc
    extension = next(
        (k.extension for k in uploads.DOCUMENT_KINDS if k.content_type == residence_request.document_content_type),
        "",
    )
    # Images open in the browser, sandboxed; a PDF is downloaded: Chrome's viewer refuses sandboxed
    # PDFs, and a PDF shown from our origin could run its scripts there.
    is_pdf = residence_request.document_content_type == "application/pdf"
    response = FileResponse(
        handle,
        content_type=residence_request.document_content_type,
        as_attachment=is_pdf,
        filename=f"residence-{residence_request.pk}{extension}",
    )
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    return response

"""Public identity pages: DID documents, status lists, the credential verifier; and an institution's credentials."""

from __future__ import annotations

import json
import uuid

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.identity import did as dids
from apps.identity.credentials import selectors
from apps.identity.credentials import services as credential_services
from apps.identity.credentials.status import status_list_credential
from apps.identity.credentials.verify import verify_document
from apps.identity.models import StatusList
from apps.tenancy.models import Institution
from portal.errors import ApplicationError, ValidationFailed

PUBLIC_CACHE_SECONDS = 60
DOCUMENT_MAX_CHARS = 200_000
CREDENTIALS_PER_PAGE = 50
# Who may see an institution's issued credentials.
CREDENTIAL_READER_ROLES = {"institution_admin", "civil_servant", "auditor"}


def _public_json(document: dict, *, content_type: str = "application/json") -> JsonResponse:
    response = JsonResponse(document, content_type=content_type, json_dumps_params={"indent": 2})
    response["Access-Control-Allow-Origin"] = "*"  # public documents, read by any resolver or wallet
    response["Cache-Control"] = f"public, max-age={PUBLIC_CACHE_SECONDS}"
    return response


@require_GET
def node_did_document(request: HttpRequest) -> JsonResponse:
    return _public_json(dids.node_did_document(), content_type="application/did+json")


@require_GET
def institution_did_document(request: HttpRequest, slug: str) -> JsonResponse:
    institution = Institution.objects.filter(slug=slug).first()
    if institution is None:
        raise Http404
    return _public_json(dids.institution_did_document(institution), content_type="application/did+json")


@require_GET
def status_list(request: HttpRequest, slug: str, list_id: str) -> JsonResponse:
    purpose, _, number = list_id.rpartition("-")
    if not number.isdigit():
        raise Http404
    found = (
        StatusList.all_institutions.filter(  # tenancy: published status lists are public by design
            institution__slug=slug, purpose=purpose, number=int(number)
        )
        .select_related("institution")
        .first()
    )
    if found is None:
        raise Http404
    return _public_json(status_list_credential(found), content_type="application/vc+ld+json")


def verify_url(credential_uuid) -> str:
    return settings.CIVITAS_NODE_URL.rstrip("/") + reverse("credential-verify") + f"?id={credential_uuid}"


def qr_svg(data: str) -> str:
    """An SVG QR code: paths and attributes only, no style or script (the CSP forbids inline ones)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return image.to_string(encoding="unicode")


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Anyone pastes a credential (or arrives from its QR code with ?id=) and reads the result."""
    context: dict = {"document_text": "", "result": None, "error": "", "credential": None}
    document = None
    if request.method == "POST":
        text = request.POST.get("document", "")
        context["document_text"] = text[:DOCUMENT_MAX_CHARS]
        if len(text) > DOCUMENT_MAX_CHARS:
            context["error"] = "too_long"
        else:
            try:
                document = json.loads(text)
            except ValueError:
                context["error"] = "bad_json"
    elif request.GET.get("id"):
        try:
            credential_uuid = uuid.UUID(request.GET["id"])
        except ValueError:
            credential_uuid = None
        document = credential_uuid and selectors.credential_public_document(credential_id=credential_uuid)
        if document is None:
            context["error"] = "unknown_id"
    if document is not None:
        try:
            context["result"] = verify_document(
                document,
                challenge=request.POST.get("challenge", "").strip(),
                domain=request.POST.get("domain", "").strip(),
            )
            context["credential"] = document
            context["subject_rows"] = _subject_rows(document)
        except ValidationFailed:
            context["error"] = "not_a_credential"
    status = 400 if context["error"] and request.method == "POST" else 404 if context["error"] else 200
    return render(request, "identity/verify.html", context, status=status)


def _subject_rows(document: dict) -> list[tuple[str, str]]:
    subject = document.get("credentialSubject")
    if not isinstance(subject, dict):
        return []
    return [
        (str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in subject.items()
    ]


def _require_reader(request: HttpRequest) -> None:
    """The tenancy middleware already answered 404 to non-members."""
    if not request.institution_roles & CREDENTIAL_READER_ROLES:
        raise PermissionDenied


@require_GET
def credential_list(request: HttpRequest, institution_slug: str) -> HttpResponse:
    _require_reader(request)
    credentials = selectors.credentials_of_institution(institution=request.institution)
    page_obj = Paginator(credentials, CREDENTIALS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "identity/credential_list.html", {"page_obj": page_obj})


@require_GET
def credential_detail(request: HttpRequest, institution_slug: str, credential_id) -> HttpResponse:
    _require_reader(request)
    credential = selectors.credential_get(institution=request.institution, credential_id=credential_id)
    link = verify_url(credential.uuid)
    return render(
        request,
        "identity/credential_detail.html",
        {
            "credential": credential,
            "verify_link": link,
            "qr": mark_safe(qr_svg(link)),  # generated by qrcode from our own URL
            "subject_rows": _subject_rows(credential.document),
            "document_json": json.dumps(credential.document, indent=2, ensure_ascii=False),
            "can_change_status": bool(request.institution_roles & credential_services.STATUS_ROLES),
        },
    )


_STATUS_CHANGES = {
    "suspend": credential_services.credential_suspend,
    "reinstate": credential_services.credential_reinstate,
    "revoke": credential_services.credential_revoke,
}


@require_POST
def credential_status_change(request: HttpRequest, institution_slug: str, credential_id) -> HttpResponse:
    """Suspend, reinstate or revoke from the credential's page; the service checks role and state."""
    _require_reader(request)
    credential = selectors.credential_get(institution=request.institution, credential_id=credential_id)
    action = request.POST.get("action", "")
    change = _STATUS_CHANGES.get(action)
    detail = redirect("credentials:detail", institution_slug=institution_slug, credential_id=credential.uuid)
    if change is None:
        messages.error(request, _("Choose whether to suspend, reinstate or revoke the credential."))
        return detail
    if action == "revoke" and request.POST.get("confirm_final") != "yes":
        messages.error(request, _("Revocation is final: tick the box to confirm it."))
        return detail
    try:
        change(credential=credential, actor=request.user, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message if not getattr(exc, "extra", None) else _flatten_errors(exc))
        return detail
    done = {
        "suspend": _("The credential is suspended: verifiers now see it as suspended."),
        "reinstate": _("The credential is valid again."),
        "revoke": _("The credential is revoked for good: verifiers now see it as revoked."),
    }
    messages.success(request, done[action])
    return detail


def _flatten_errors(exc: ApplicationError) -> str:
    errors = exc.extra.get("errors") or {}
    return " ".join(str(message) for messages_ in errors.values() for message in messages_) or exc.message

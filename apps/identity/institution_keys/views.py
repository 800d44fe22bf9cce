"""An institution's signing keys and DID, under /i/<institution_slug>/keys/.

Administrators rotate and retire keys; auditors read. Only public halves are ever shown:
the selector does not even load the sealed private keys. The node's own key is managed
with `manage.py keys`, not here.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from apps.identity import did as dids
from apps.identity import selectors, services
from apps.identity.models import KeyStatus, SigningKey
from apps.tenancy.models import Role
from portal.errors import ApplicationError

KEY_READER_ROLES = {Role.INSTITUTION_ADMIN, Role.AUDITOR}


def _require_reader(request) -> None:
    """The tenancy middleware already answered 404 to non-members."""
    if not request.institution_roles & KEY_READER_ROLES:
        raise PermissionDenied(_("Only administrators and auditors of the institution can see its keys."))


def _require_admin(request) -> None:
    if Role.INSTITUTION_ADMIN not in request.institution_roles:
        raise PermissionDenied(_("Only an institution administrator can rotate or retire keys."))


def key_row(key: SigningKey, *, did: str) -> dict:
    """What a page or the API shows of a key: public parts only."""
    multibase = dids.multikey_encode(bytes(key.public_key))
    return {
        "pk": key.pk,
        "key_id": key.key_id,
        "verification_method": f"{did}#{multibase}",
        "public_key_multibase": multibase,
        "status": key.status,
        "status_label": key.get_status_display(),
        "active": key.status == KeyStatus.ACTIVE,
        "created_at": key.created_at,
        "retired_at": key.retired_at,
    }


@require_GET
def key_list(request, institution_slug):
    _require_reader(request)
    did = dids.institution_did_for(request.institution)
    rows = [key_row(k, did=did) for k in selectors.institution_signing_keys(institution=request.institution)]
    context = {
        "did": did,
        "did_document_url": reverse("institution-did", kwargs={"slug": request.institution.slug}),
        "keys": rows,
        "has_active": any(row["active"] for row in rows),
        "can_manage": Role.INSTITUTION_ADMIN in request.institution_roles,
    }
    return render(request, "identity/keys/list.html", context)


@require_http_methods(["GET", "POST"])
def key_rotate(request, institution_slug):
    """Ask for confirmation (GET), then make a new active key and retire the old one (POST)."""
    _require_admin(request)
    context = {"action": "rotate", "key": None}
    if request.method == "GET":
        return render(request, "identity/keys/confirm.html", context)
    try:
        key = services.institution_key_rotate(institution=request.institution, actor=request.user)
    except ApplicationError as error:
        return render(request, "identity/keys/confirm.html", {**context, "error": error}, status=error.status)
    messages.success(
        request,
        _("The institution now signs with the new key %(key_id)s. The previous key is retired and still verifies.")
        % {"key_id": key.key_id},
    )
    return redirect("keys:list", institution_slug=request.institution.slug)


@require_http_methods(["GET", "POST"])
def key_retire(request, institution_slug, signing_key_id):
    """Ask for confirmation (GET), then retire the key without a successor (POST)."""
    _require_admin(request)
    key = selectors.institution_signing_key_get(institution=request.institution, signing_key_id=signing_key_id)
    did = dids.institution_did_for(request.institution)
    context = {"action": "retire", "key": key_row(key, did=did)}
    if request.method == "GET":
        status = 200 if key.status == KeyStatus.ACTIVE else 409
        return render(request, "identity/keys/confirm.html", context, status=status)
    try:
        services.institution_key_retire(institution=request.institution, key=key, actor=request.user)
    except ApplicationError as error:
        return render(request, "identity/keys/confirm.html", {**context, "error": error}, status=error.status)
    messages.success(
        request,
        _("The key %(key_id)s is retired: it signs nothing more, and what it signed before still verifies.")
        % {"key_id": key.key_id},
    )
    return redirect("keys:list", institution_slug=request.institution.slug)

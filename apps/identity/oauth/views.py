"""OAuth2/OIDC provider endpoints bound to institutions, and the integrator clients'
pages under /i/<institution_slug>/integrators/.

DOT's views do the protocol; these subclasses add what Civitas needs: a person may only
authorize a client of an institution they belong to, issued tokens are audited, and a
client may only introspect tokens of its own institution.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from urllib.parse import unquote, urlsplit

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from oauth2_provider import views as dot_views
from oauth2_provider.models import AccessToken, Application

from apps.audit.services import audit_append
from apps.identity.oauth import selectors as oauth_selectors
from apps.identity.oauth import services as oauth_services
from apps.identity.oauth.scopes import scope_catalogue
from apps.tenancy.models import Role
from apps.tenancy.selectors import roles_of
from portal.errors import ApplicationError, ValidationFailed

# --- Provider endpoints --------------------------------------------------------------


class AuthorizationView(dot_views.AuthorizationView):
    """The consent page: only members of the client's institution may authorize it."""

    template_name = "identity/oauth/authorize.html"

    def _refusal(self, request):
        client_id = request.POST.get("client_id") if request.method == "POST" else request.GET.get("client_id")
        application = Application.objects.filter(client_id=client_id or "").first()
        if application is None:
            return None  # DOT answers an unknown client itself
        integrator = oauth_selectors.integrator_for_application(application)
        if integrator is None or not roles_of(user=request.user, institution=integrator.institution):
            response = render(
                request,
                "identity/oauth/not_a_member.html",
                {"application": application},
                status=403,
            )
            return response
        return None

    @staticmethod
    def _allow_redirect_to_client(response, request):
        # Browsers apply the consent page's CSP form-action to the redirect that follows the
        # post, so the registered redirect URIs' origins are allowed there.
        client_id = request.POST.get("client_id") if request.method == "POST" else request.GET.get("client_id")
        application = Application.objects.filter(client_id=client_id or "").first()
        if application is not None:
            origins = {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in application.redirect_uris.split()}
            response._csp_update = {"form-action": sorted(origins)}
        return response

    def get(self, request, *args, **kwargs):
        refusal = self._refusal(request)
        return refusal or self._allow_redirect_to_client(super().get(request, *args, **kwargs), request)

    def post(self, request, *args, **kwargs):
        refusal = self._refusal(request)
        return refusal or self._allow_redirect_to_client(super().post(request, *args, **kwargs), request)


class TokenView(dot_views.TokenView):
    """DOT's token endpoint; every issued token is audited (its client, grant and scope, never its value)."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            _audit_token_issued(request, response)
        return response


def _audit_token_issued(request, response) -> None:
    value = json.loads(response.content).get("access_token", "")
    token = (
        AccessToken.objects.select_related("application", "user")
        .filter(token_checksum=hashlib.sha256(value.encode("utf-8")).hexdigest())
        .first()
    )
    if token is None:
        return
    integrator = oauth_selectors.integrator_for_application(token.application)
    with transaction.atomic():
        audit_append(
            institution=integrator.institution if integrator else None,
            actor=token.user,
            action="identity.oauth_token.issue",
            target=integrator,
            changes={
                "client_id": token.application.client_id,
                "grant_type": request.POST.get("grant_type", ""),
                "scope": token.scope,
                "expires": token.expires,
            },
        )


class IntrospectTokenView(dot_views.IntrospectTokenView):
    """RFC 7662 introspection for confidential clients, limited to their own institution's tokens."""

    def _caller_institution_id(self, request) -> int | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        client_id = request.POST.get("client_id", "")
        if header[:6].lower() == "basic ":
            try:
                client_id = unquote(base64.b64decode(header[6:].strip()).decode("utf-8").split(":", 1)[0])
            except (binascii.Error, UnicodeDecodeError):
                return None
        application = Application.objects.filter(client_id=client_id).first() if client_id else None
        if application is None and header[:7].lower() == "bearer ":
            checksum = hashlib.sha256(header[7:].strip().encode("utf-8")).hexdigest()
            bearer = AccessToken.objects.select_related("application").filter(token_checksum=checksum).first()
            application = bearer.application if bearer else None
        integrator = oauth_selectors.integrator_for_application(application)
        return integrator.institution_id if integrator else None

    def _limit(self, request, response):
        if response.status_code != 200:
            return response
        data = json.loads(response.content)
        if not data.get("active"):
            return response
        token = Application.objects.filter(client_id=data.get("client_id", "")).first()
        integrator = oauth_selectors.integrator_for_application(token)
        caller = self._caller_institution_id(request)
        if integrator is None or caller is None or integrator.institution_id != caller:
            return JsonResponse({"active": False})
        data["civitas_institution"] = integrator.institution.slug
        return JsonResponse(data)

    def get(self, request, *args, **kwargs):
        return self._limit(request, super().get(request, *args, **kwargs))

    def post(self, request, *args, **kwargs):
        return self._limit(request, super().post(request, *args, **kwargs))


# --- Integrator clients of an institution (web UI) ------------------------------------


class IntegratorClientForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=255)
    client_type = forms.ChoiceField(
        label=gettext_lazy("Client type"),
        choices=[
            (Application.CLIENT_CONFIDENTIAL, gettext_lazy("Confidential: a server that can keep a secret")),
            (Application.CLIENT_PUBLIC, gettext_lazy("Public: a browser or mobile app, no secret")),
        ],
        widget=forms.RadioSelect,
        initial=Application.CLIENT_CONFIDENTIAL,
    )
    grant_type = forms.ChoiceField(
        label=gettext_lazy("How it gets tokens"),
        choices=[
            (Application.GRANT_AUTHORIZATION_CODE, gettext_lazy("Authorization code with PKCE: people sign in")),
            (Application.GRANT_CLIENT_CREDENTIALS, gettext_lazy("Client credentials: a machine acting for itself")),
        ],
        widget=forms.RadioSelect,
        initial=Application.GRANT_AUTHORIZATION_CODE,
    )
    redirect_uris = forms.CharField(
        label=gettext_lazy("Redirect URIs"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocapitalize": "none"}),
        help_text=gettext_lazy(
            "One per line, for authorization code only. https:// only; http:// is allowed for 127.0.0.1, [::1] "
            "and localhost."
        ),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes it may ask for"), widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [(name, f"{name} — {text}") for name, text in scope_catalogue().items()]


def _require_admin(request) -> None:
    if Role.INSTITUTION_ADMIN not in request.institution_roles:
        raise PermissionDenied(_("Only an institution administrator can manage integrator clients."))


def _list_page(request, form, *, status=200):
    clients = oauth_selectors.integrator_clients_of(institution=request.institution)
    return render(request, "identity/oauth/integrators.html", {"clients": clients, "form": form}, status=status)


def _secret_page(request, issued, *, created: bool):
    response = render(
        request,
        "identity/oauth/client_secret.html",
        {"client": issued.client, "client_secret": issued.client_secret, "created": created},
    )
    response["Cache-Control"] = "no-store"
    return response


def _form_errors_from(form: forms.Form, error: ApplicationError) -> None:
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if field_errors:
        for field, messages_ in field_errors.items():
            for message in messages_:
                form.add_error(field if field in form.fields else None, str(message))
    else:
        form.add_error(None, error.message)


@never_cache
@require_http_methods(["GET", "POST"])
def integrators(request, institution_slug):
    """The institution's integrator clients; an administrator registers a new one."""
    _require_admin(request)
    if request.method == "GET":
        return _list_page(request, IntegratorClientForm())
    form = IntegratorClientForm(request.POST)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    try:
        issued = oauth_services.integrator_client_create(
            institution=request.institution,
            actor=request.user,
            name=form.cleaned_data["name"],
            client_type=form.cleaned_data["client_type"],
            grant_type=form.cleaned_data["grant_type"],
            redirect_uris=form.cleaned_data["redirect_uris"].split(),
            scopes=form.cleaned_data["scopes"],
        )
    except ApplicationError as error:
        _form_errors_from(form, error)
        return _list_page(request, form, status=error.status)
    return _secret_page(request, issued, created=True)


@require_GET
def integrator_detail(request, institution_slug, integrator_id):
    _require_admin(request)
    client = oauth_selectors.integrator_client_get(institution=request.institution, integrator_id=integrator_id)
    return render(request, "identity/oauth/integrator_detail.html", {"client": client})


@never_cache
@require_http_methods(["GET", "POST"])
def integrator_rotate(request, institution_slug, integrator_id):
    """Ask for confirmation (GET), then issue a new secret and show it once (POST)."""
    _require_admin(request)
    client = oauth_selectors.integrator_client_get(institution=request.institution, integrator_id=integrator_id)
    if request.method == "GET":
        return render(request, "identity/oauth/integrator_confirm.html", {"client": client, "action": "rotate"})
    try:
        issued = oauth_services.integrator_client_rotate_secret(client=client, actor=request.user)
    except ApplicationError as error:
        return render(
            request,
            "identity/oauth/integrator_confirm.html",
            {"client": client, "action": "rotate", "error": error},
            status=error.status,
        )
    return _secret_page(request, issued, created=False)


@require_http_methods(["GET", "POST"])
def integrator_delete(request, institution_slug, integrator_id):
    _require_admin(request)
    client = oauth_selectors.integrator_client_get(institution=request.institution, integrator_id=integrator_id)
    if request.method == "GET":
        return render(request, "identity/oauth/integrator_confirm.html", {"client": client, "action": "delete"})
    name = client.application.name
    oauth_services.integrator_client_delete(client=client, actor=request.user)
    messages.success(request, _("The client %(name)s was deleted; its tokens no longer work.") % {"name": name})
    return redirect("integrators:list", institution_slug=request.institution.slug)

"""Institution binding and scopes of OAuth2 tokens on institution-scoped API routes.

Called by `portal.api.InstitutionScopedAPIView.initial`. Knox tokens and sessions are
not OAuth tokens and pass through unchanged.
"""

from __future__ import annotations

from django.apps import apps as django_apps
from django.http import Http404
from django.utils.translation import gettext as _
from oauth2_provider.models import AccessToken
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS

from apps.identity.oauth.scopes import scope_for
from apps.identity.oauth.selectors import integrator_for_application
from apps.identity.oauth.zero_trust import CLIENT_ID_ATTRIBUTE, DENIED_ATTRIBUTE
from portal.errors import ApplicationError


def _oauth_token(request) -> AccessToken | None:
    return request.auth if isinstance(request.auth, AccessToken) else None


def oauth_token_bind(*, request, institution_slug: str) -> None:
    """A token works only on its client's institution; elsewhere it gets 404, as if the
    institution did not exist.

    Raises: Http404, AuthenticationFailed (the client's service user is disabled)."""
    token = _oauth_token(request)
    if token is None:
        return
    integrator = integrator_for_application(token.application)
    django_request = request._request
    if integrator is not None:
        setattr(django_request, CLIENT_ID_ATTRIBUTE, token.application.client_id)
    if token.user is None or not token.user.is_active:
        raise exceptions.AuthenticationFailed(_("This token's account is disabled."))
    if integrator is None or integrator.institution.slug != institution_slug:
        setattr(django_request, DENIED_ATTRIBUTE, "institution_binding")
        raise Http404


def required_scope(view, request) -> str:
    """`<app>:read` for safe methods, `<app>:write` otherwise; a view may name its own with
    `oauth_scope_app`."""
    label = getattr(view, "oauth_scope_app", None)
    if label is None:
        config = django_apps.get_containing_app_config(type(view).__module__)
        label = config.label if config is not None else "api"
    return scope_for(app_label=label, write=request.method not in SAFE_METHODS)


def oauth_scope_check(*, view, request) -> None:
    """Raises: ApplicationError `insufficient_scope` (403) when the token lacks the view's scope."""
    token = _oauth_token(request)
    if token is None:
        return
    scope = required_scope(view, request)
    if not token.allow_scopes([scope]):
        raise ApplicationError(
            _("This token was not granted the scope %(scope)s.") % {"scope": scope},
            code="insufficient_scope",
            extra={"required_scope": scope},
        ).with_status(403)

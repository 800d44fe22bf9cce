"""Privileged roles must enrol a second factor before they can do anything else."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from apps.identity.selectors import mfa_missing

_ALWAYS_ALLOWED = ("/accounts/", "/static/", "/healthz", "/readyz", "/metrics", "/i18n/", "/.well-known/")


class RequireMfaForPrivilegedRolesMiddleware:
    """Council members, institution admins and auditors are sent to TOTP set-up until
    they have one; the API answers them 403 (see `InstitutionScopedAPIView`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(_ALWAYS_ALLOWED)
            and not request.path.startswith("/api/")
            and mfa_missing(user=user)
        ):
            messages.warning(
                request,
                _("Your role requires two-factor authentication. Set up an authenticator app to continue."),
            )
            return redirect("mfa_activate_totp")
        return self.get_response(request)

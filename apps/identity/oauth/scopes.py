"""The scope catalogue: OpenID Connect's, and a read and a write scope per app.

Each app under `apps.` gets `<app>:read` and `<app>:write`, so an API view is covered the
moment it exists: `InstitutionScopedAPIView` asks for the scope of its app and method.
A client may only ask for the scopes its institution allowed when registering it.
"""

from __future__ import annotations

from django.apps import apps as django_apps
from django.utils.translation import gettext as _
from oauth2_provider.scopes import BaseScopes

OIDC_SCOPES = ("openid", "profile", "email")


def scope_catalogue() -> dict[str, str]:
    catalogue = {
        "openid": _("Sign you in with your Civitas account"),
        "profile": _("Your name and user name"),
        "email": _("Your email address"),
    }
    for config in sorted(django_apps.get_app_configs(), key=lambda c: c.label):
        if not config.name.startswith("apps."):
            continue
        name = str(config.verbose_name)
        catalogue[f"{config.label}:read"] = _("Read %(area)s data of the institution") % {"area": name}
        catalogue[f"{config.label}:write"] = _("Change %(area)s data of the institution") % {"area": name}
    return catalogue


def scope_for(*, app_label: str, write: bool) -> str:
    return f"{app_label}:{'write' if write else 'read'}"


def _client_scopes(application) -> list[str]:
    client = getattr(application, "integrator_client", None) if application is not None else None
    if client is None:
        return []  # an application without an institution gets nothing
    known = scope_catalogue()
    return [scope for scope in client.scopes if scope in known]


class CivitasScopes(BaseScopes):
    def get_all_scopes(self):
        return scope_catalogue()

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        if application is None and request is None:
            return list(scope_catalogue())  # the discovery document's scopes_supported
        return _client_scopes(application)

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        # Asked for nothing: the API scopes the client was allowed (no sign-in scopes).
        return [scope for scope in _client_scopes(application) if scope not in OIDC_SCOPES]

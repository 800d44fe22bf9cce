"""Writes of integrator clients: register, rotate the secret, delete. Every one is audited;
no secret ever reaches the log."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken

from apps.audit.services import audit_append
from apps.identity.oauth.models import IntegratorClient
from apps.identity.oauth.scopes import OIDC_SCOPES, scope_catalogue
from apps.tenancy.models import Institution, Membership, Role
from apps.tenancy.selectors import roles_of
from apps.tenancy.services import membership_grant
from portal.errors import PermissionDenied, ValidationFailed

CLIENT_TYPES = (Application.CLIENT_CONFIDENTIAL, Application.CLIENT_PUBLIC)
GRANT_TYPES = (Application.GRANT_AUTHORIZATION_CODE, Application.GRANT_CLIENT_CREDENTIALS)
LOOPBACK_HOSTS = {"localhost"}


@dataclass
class IssuedClient:
    """A client and its secret in clear: shown once, never stored or logged."""

    client: IntegratorClient
    client_secret: str


def _require_admin(*, actor, institution: Institution) -> None:
    if actor is None:
        return
    if Role.INSTITUTION_ADMIN not in roles_of(user=actor, institution=institution):
        raise PermissionDenied(_("Only an institution administrator can manage integrator clients."))


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_problem(uri: str) -> str | None:
    """Why a redirect URI is refused, or None: https only, plain http only on loopback (RFC 8252)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return _("“%(uri)s” is not a URL.") % {"uri": uri}
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return _("“%(uri)s” must be an absolute https:// URL.") % {"uri": uri}
    if parts.fragment or parts.username or parts.password:
        return _("“%(uri)s” may not contain a fragment or credentials.") % {"uri": uri}
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return _("“%(uri)s” must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost).") % {
            "uri": uri
        }
    return None


def _validate(*, name: str, client_type: str, grant_type: str, redirect_uris: list[str], scopes: list[str]) -> None:
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("A client needs a name.")]
    elif len(name) > 255:
        errors["name"] = [_("The name can be at most 255 characters long.")]
    if client_type not in CLIENT_TYPES:
        errors["client_type"] = [_("Choose confidential or public.")]
    if grant_type not in GRANT_TYPES:
        errors["grant_type"] = [_("Choose authorization code or client credentials.")]
    if grant_type == Application.GRANT_CLIENT_CREDENTIALS and client_type == Application.CLIENT_PUBLIC:
        errors["client_type"] = [
            _("A client-credentials client must be confidential: it authenticates with its secret.")
        ]
    if grant_type == Application.GRANT_AUTHORIZATION_CODE:
        problems = [p for p in (redirect_uri_problem(uri) for uri in redirect_uris) if p]
        if problems:
            errors["redirect_uris"] = problems
        elif not redirect_uris:
            errors["redirect_uris"] = [_("A web or mobile app needs at least one redirect URI.")]
    elif grant_type == Application.GRANT_CLIENT_CREDENTIALS and redirect_uris:
        errors["redirect_uris"] = [_("A client-credentials client has no redirect URIs.")]
    known = scope_catalogue()
    unknown = [s for s in scopes if s not in known]
    if unknown:
        errors["scopes"] = [_("Unknown scopes: %(scopes)s.") % {"scopes": ", ".join(unknown)}]
    elif not scopes:
        errors["scopes"] = [_("Choose at least one scope.")]
    elif grant_type == Application.GRANT_CLIENT_CREDENTIALS and set(scopes) & set(OIDC_SCOPES):
        errors["scopes"] = [_("Sign-in scopes (openid, profile, email) need a person: use authorization code.")]
    if errors:
        raise ValidationFailed(errors=errors)


def _service_user_create(*, institution: Institution, application: Application, actor):
    user = get_user_model()(
        username=f"client-{application.client_id[:20].lower()}",
        display_name=_("%(name)s (integrator client)") % {"name": application.name},
        is_active=True,
    )
    user.set_unusable_password()
    user.save()
    membership_grant(institution=institution, user=user, role=Role.INTEGRATOR, actor=actor)
    return user


@transaction.atomic
def integrator_client_create(
    *,
    institution: Institution,
    actor,
    name: str,
    client_type: str,
    grant_type: str,
    redirect_uris: list[str],
    scopes: list[str],
) -> IssuedClient:
    """Register an OAuth2 client of the institution; the secret is returned once.

    Raises: ValidationFailed, PermissionDenied."""
    _require_admin(actor=actor, institution=institution)
    name = (name or "").strip()
    redirect_uris = [uri.strip() for uri in redirect_uris if uri.strip()]
    scopes = sorted(set(scopes))
    _validate(name=name, client_type=client_type, grant_type=grant_type, redirect_uris=redirect_uris, scopes=scopes)
    secret = generate_client_secret() if client_type == Application.CLIENT_CONFIDENTIAL else ""
    application = Application.objects.create(
        name=name,
        client_type=client_type,
        authorization_grant_type=grant_type,
        redirect_uris=" ".join(redirect_uris),
        client_secret=secret,
        algorithm=Application.RS256_ALGORITHM if grant_type == Application.GRANT_AUTHORIZATION_CODE else "",
        skip_authorization=False,
    )
    service_user = None
    if grant_type == Application.GRANT_CLIENT_CREDENTIALS:
        service_user = _service_user_create(institution=institution, application=application, actor=actor)
    client = IntegratorClient.objects.create(
        institution=institution,
        application=application,
        allowed_scopes=" ".join(scopes),
        service_user=service_user,
        created_by=actor,
    )
    audit_append(
        institution=institution,
        actor=actor,
        action="identity.integrator_client.create",
        target=client,
        changes={
            "name": name,
            "client_id": application.client_id,
            "client_type": client_type,
            "grant_type": grant_type,
            "redirect_uris": redirect_uris,
            "scopes": scopes,
            "service_user": service_user.username if service_user else "",
        },
    )
    return IssuedClient(client=client, client_secret=secret)


def _revoke_tokens(application: Application) -> int:
    revoked = AccessToken.objects.filter(application=application).count()
    RefreshToken.objects.filter(application=application).delete()
    AccessToken.objects.filter(application=application).delete()
    Grant.objects.filter(application=application).delete()
    return revoked


@transaction.atomic
def integrator_client_rotate_secret(*, client: IntegratorClient, actor) -> IssuedClient:
    """Give a confidential client a new secret; the old one and every token issued stop working.

    Raises: PermissionDenied, ValidationFailed (a public client has no secret)."""
    _require_admin(actor=actor, institution=client.institution)
    application = client.application
    if application.client_type != Application.CLIENT_CONFIDENTIAL:
        raise ValidationFailed(_("A public client has no secret to rotate."))
    secret = generate_client_secret()
    application.client_secret = secret
    application.save(update_fields=["client_secret", "updated"])
    revoked = _revoke_tokens(application)
    client.secret_rotated_at = timezone.now()
    client.save(update_fields=["secret_rotated_at"])
    audit_append(
        institution=client.institution,
        actor=actor,
        action="identity.integrator_client.rotate_secret",
        target=client,
        changes={"client_id": application.client_id, "tokens_revoked": revoked},
    )
    return IssuedClient(client=client, client_secret=secret)


@transaction.atomic
def integrator_client_delete(*, client: IntegratorClient, actor) -> None:
    """Delete a client: its tokens stop working at once and its service user is disabled.

    Raises: PermissionDenied."""
    institution = client.institution
    _require_admin(actor=actor, institution=institution)
    application = client.application
    service_user = client.service_user
    audit_append(
        institution=institution,
        actor=actor,
        action="identity.integrator_client.delete",
        target=client,
        changes={"name": application.name, "client_id": application.client_id},
    )
    _revoke_tokens(application)
    application.delete()  # cascades to the IntegratorClient row
    if service_user is not None:
        from apps.tenancy.services import membership_revoke

        for membership in Membership.objects.filter(user=service_user, institution=institution):
            membership_revoke(membership=membership, actor=actor)
        # Kept, inactive, so that the audit log's actor still resolves.
        service_user.is_active = False
        service_user.save(update_fields=["is_active"])

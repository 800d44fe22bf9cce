"""Logins, logouts, failures and second-factor changes land in the audit log.

Django and allauth announce these only through signals, so receivers are the one
place to hook them; each writes its audit event in its own transaction.
"""

from __future__ import annotations

from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.db import transaction
from django.dispatch import receiver

from apps.audit.services import audit_append


def _client(request) -> dict:
    if request is None:
        return {}
    return {
        "ip": request.META.get("REMOTE_ADDR", ""),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
    }


@receiver(auth_signals.user_logged_in, dispatch_uid="civitas_audit_login")
def audit_login(sender, request, user, **kwargs):
    with transaction.atomic():
        audit_append(institution=None, actor=user, action="identity.login", target=user, changes=_client(request))


@receiver(auth_signals.user_logged_out, dispatch_uid="civitas_audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is None:
        return
    with transaction.atomic():
        audit_append(institution=None, actor=user, action="identity.logout", target=user, changes=_client(request))


@receiver(auth_signals.user_login_failed, dispatch_uid="civitas_audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    attempted = str(credentials.get("username") or credentials.get("email") or "")[:150]
    with transaction.atomic():
        audit_append(
            institution=None,
            actor=None,
            action="identity.login_failed",
            target_type="identity.user",
            target_id="",
            changes={"attempted_login": attempted, **_client(request)},
        )


@receiver(mfa_signals.authenticator_added, dispatch_uid="civitas_audit_mfa_added")
def audit_mfa_added(sender, request, user, authenticator, **kwargs):
    with transaction.atomic():
        audit_append(
            institution=None,
            actor=user,
            action="identity.mfa.add",
            target=user,
            changes={"type": authenticator.type, **_client(request)},
        )


@receiver(mfa_signals.authenticator_removed, dispatch_uid="civitas_audit_mfa_removed")
def audit_mfa_removed(sender, request, user, authenticator, **kwargs):
    with transaction.atomic():
        audit_append(
            institution=None,
            actor=user,
            action="identity.mfa.remove",
            target=user,
            changes={"type": authenticator.type, **_client(request)},
        )

"""Reads of accounts and keys."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.conf import settings

from apps.tenancy.selectors import roles_anywhere


def mfa_enrolled(*, user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def mfa_required(*, user) -> bool:
    """Whether any of the user's roles, in any institution, demands a second factor."""
    return bool(roles_anywhere(user=user) & set(settings.CIVITAS_MFA_REQUIRED_ROLES))


def mfa_missing(*, user) -> bool:
    return user.is_authenticated and mfa_required(user=user) and not mfa_enrolled(user=user)

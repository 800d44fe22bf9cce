"""Reads of accounts and keys."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from apps.identity.models import KeyOwnerType, SigningKey
from apps.tenancy.selectors import roles_anywhere


def mfa_enrolled(*, user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def mfa_required(*, user) -> bool:
    """Whether any of the user's roles, in any institution, demands a second factor."""
    return bool(roles_anywhere(user=user) & set(settings.CIVITAS_MFA_REQUIRED_ROLES))


def mfa_missing(*, user) -> bool:
    return user.is_authenticated and mfa_required(user=user) and not mfa_enrolled(user=user)


def institution_signing_keys(*, institution) -> QuerySet[SigningKey]:
    """An institution's keys, newest first, without their sealed private halves."""
    return (
        SigningKey.objects.filter(owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk))
        .defer("encrypted_private_key")
        .order_by("-created_at", "-pk")
    )


def institution_signing_key_get(*, institution, signing_key_id: int) -> SigningKey:
    """Raises: Http404 unless the key belongs to this institution."""
    key = institution_signing_keys(institution=institution).filter(pk=signing_key_id).first()
    if key is None:
        raise Http404
    return key

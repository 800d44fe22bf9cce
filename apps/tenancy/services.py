"""Writes of institutions and memberships; every one is audited."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from apps.audit.services import audit_append
from apps.tenancy.models import Institution, InstitutionKind, Membership, Role
from apps.tenancy.selectors import roles_of
from portal.errors import Conflict, PermissionDenied, ValidationFailed


def institution_did(slug: str) -> str:
    from urllib.parse import urlsplit

    from django.conf import settings

    host = urlsplit(settings.CIVITAS_NODE_URL).netloc.replace(":", "%3A")
    return f"did:web:{host}:institutions:{slug}"


@transaction.atomic
def institution_create(*, name: str, slug: str = "", kind: str, actor=None) -> Institution:
    """Create an institution (a tenant) on this node.

    Raises: ValidationFailed, Conflict."""
    name = (name or "").strip()
    slug = slugify(slug or name)[:60]
    errors = {}
    if not name:
        errors["name"] = [_("An institution needs a name.")]
    if not slug:
        errors["slug"] = [_("An institution needs a short name made of letters, digits or dashes.")]
    if kind not in InstitutionKind.values:
        errors["kind"] = [_("Choose one of: %(kinds)s.") % {"kinds": ", ".join(InstitutionKind.values)}]
    if errors:
        raise ValidationFailed(errors=errors)
    if Institution.objects.filter(slug=slug).exists():
        raise Conflict(_("An institution with the short name “%(slug)s” already exists.") % {"slug": slug})
    institution = Institution.objects.create(name=name, slug=slug, kind=kind, did=institution_did(slug))
    audit_append(
        institution=institution,
        actor=actor,
        action="tenancy.institution.create",
        target=institution,
        changes={"name": name, "slug": slug, "kind": kind},
    )
    return institution


def _require_admin(*, actor, institution: Institution) -> None:
    if actor is None:  # system actors (seed, commands) act with the node's authority
        return
    if Role.INSTITUTION_ADMIN not in roles_of(user=actor, institution=institution):
        raise PermissionDenied(_("Only an institution administrator can change memberships."))


@transaction.atomic
def membership_grant(*, institution: Institution, user, role: str, actor=None) -> Membership:
    """Give a user a role in an institution.

    Raises: ValidationFailed, PermissionDenied, Conflict."""
    if role not in Role.values:
        raise ValidationFailed(errors={"role": [_("Unknown role “%(role)s”.") % {"role": role}]})
    _require_admin(actor=actor, institution=institution)
    if Membership.objects.filter(user=user, institution=institution, role=role).exists():
        raise Conflict(_("%(user)s already has this role.") % {"user": user})
    membership = Membership.objects.create(user=user, institution=institution, role=role)
    audit_append(
        institution=institution,
        actor=actor,
        action="tenancy.membership.grant",
        target=membership,
        changes={"user": user.username, "role": role},
    )
    return membership


@transaction.atomic
def membership_revoke(*, membership: Membership, actor=None) -> None:
    """Remove one role of a user; the last administrator cannot remove themselves.

    Raises: PermissionDenied, Conflict."""
    institution = membership.institution
    _require_admin(actor=actor, institution=institution)
    if (
        membership.role == Role.INSTITUTION_ADMIN
        and Membership.objects.filter(institution=institution, role=Role.INSTITUTION_ADMIN).count() == 1
    ):
        raise Conflict(_("An institution must keep at least one administrator."))
    audit_append(
        institution=institution,
        actor=actor,
        action="tenancy.membership.revoke",
        target=membership,
        changes={"user": membership.user.username, "role": membership.role},
    )
    membership.delete()


def user_by_username(*, username: str):
    """Raises: ValidationFailed when no such account exists."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationFailed(errors={"username": [_("No account has this user name.")]})
    return user

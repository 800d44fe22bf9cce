"""Writes of the identity app: keys (and, with the identity work, DIDs and credentials)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.identity import keys
from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey
from portal.errors import InvalidTransition, NotFound, PermissionDenied


@transaction.atomic
def signing_key_create(*, owner_type: str, owner_id: str = "", actor=None, institution=None) -> SigningKey:
    """Create the active Ed25519 key of an owner, retiring the one it replaces.

    Raises: nothing expected; a concurrent creation for the same owner loses the race
    and returns the winner's key."""
    from apps.audit.services import audit_append

    raw_private, raw_public = keys.new_ed25519()
    key_id = keys.key_fingerprint(raw_public)
    previous = SigningKey.objects.select_for_update().filter(
        owner_type=owner_type, owner_id=owner_id, status=KeyStatus.ACTIVE
    )
    retired = [k.key_id for k in previous]
    previous.update(status=KeyStatus.RETIRED, retired_at=timezone.now())
    try:
        with transaction.atomic():
            key = SigningKey.objects.create(
                key_id=key_id,
                owner_type=owner_type,
                owner_id=owner_id,
                public_key=raw_public,
                encrypted_private_key=keys.seal(raw_private, key_id=key_id),
            )
    except IntegrityError:
        return SigningKey.objects.get(owner_type=owner_type, owner_id=owner_id, status=KeyStatus.ACTIVE)
    audit_append(
        institution=institution,
        actor=actor,
        action="identity.key.create",
        target=key,
        changes={"key_id": key_id, "owner": f"{owner_type}:{owner_id}", "retired": retired},
    )
    return key


def node_signing_key() -> SigningKey:
    """The node's active key, created on first use."""
    key = SigningKey.objects.filter(owner_type=KeyOwnerType.NODE, status=KeyStatus.ACTIVE).first()
    return key or signing_key_create(owner_type=KeyOwnerType.NODE)


def signing_key_sign(*, key: SigningKey, message: bytes) -> bytes:
    """Sign with a stored key; the private key exists in clear only inside this call."""
    return keys.sign(keys.unseal(key.encrypted_private_key, key_id=key.key_id), message)


@transaction.atomic
def signing_key_retire(*, key: SigningKey, actor=None, institution=None) -> SigningKey:
    """Stop signing with a key; what it signed still verifies.

    Raises: InvalidTransition when the key is already retired (its revocation time stays)."""
    from apps.audit.services import audit_append

    current = SigningKey.objects.select_for_update().only("status").get(pk=key.pk)
    if current.status == KeyStatus.RETIRED:
        raise InvalidTransition(_("This key is already retired."))
    key.status = KeyStatus.RETIRED
    key.retired_at = timezone.now()
    key.save(update_fields=["status", "retired_at"])
    audit_append(
        institution=institution,
        actor=actor,
        action="identity.key.retire",
        target=key,
        changes={"key_id": key.key_id, "owner": f"{key.owner_type}:{key.owner_id}"},
    )
    return key


def _require_institution_admin(*, institution, actor) -> None:
    from apps.tenancy.models import Role
    from apps.tenancy.selectors import roles_of

    if actor is None or Role.INSTITUTION_ADMIN not in roles_of(user=actor, institution=institution):
        raise PermissionDenied(_("Only an institution administrator can manage the institution's keys."))


@transaction.atomic
def institution_key_rotate(*, institution, actor) -> SigningKey:
    """Give an institution a new active key; the one it replaces is retired and stays in its DID document.

    Raises: PermissionDenied unless the actor administers the institution."""
    _require_institution_admin(institution=institution, actor=actor)
    return signing_key_create(
        owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk), actor=actor, institution=institution
    )


@transaction.atomic
def institution_key_retire(*, institution, key: SigningKey, actor) -> SigningKey:
    """Retire an institution's key without a successor (a key suspected lost); the next signature makes a new one.

    Raises: PermissionDenied, NotFound (not this institution's key), InvalidTransition (already retired)."""
    _require_institution_admin(institution=institution, actor=actor)
    if key.owner_type != KeyOwnerType.INSTITUTION or key.owner_id != str(institution.pk):
        raise NotFound()
    return signing_key_retire(key=key, actor=actor, institution=institution)


@transaction.atomic
def signing_keys_rewrap(*, actor=None) -> int:
    """Re-encrypt every private key under the current master key (after a rotation).

    Raises: ImproperlyConfigured when a key opens under none of the configured master keys."""
    from apps.audit.services import audit_append

    count = 0
    for key in SigningKey.objects.select_for_update().order_by("pk"):
        plaintext = keys.unseal(key.encrypted_private_key, key_id=key.key_id)
        key.encrypted_private_key = keys.seal(plaintext, key_id=key.key_id)
        key.save(update_fields=["encrypted_private_key"])
        count += 1
    audit_append(
        institution=None,
        actor=actor,
        action="identity.key.rewrap",
        target_type="identity.signingkey",
        changes={"keys": count},
    )
    return count

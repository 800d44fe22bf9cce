"""What the cross-institution sweep needs from identity: a credential of Aurelia."""

from apps.tenancy.scope import institution_scope


def sweep_credential(world):
    """A credential issued by Aurelia, made once per world."""
    if "credential" not in world.__dict__:
        from apps.identity.credentials.services import credential_issue

        with institution_scope(world.aurelia):
            world.__dict__["credential"] = credential_issue(
                institution=world.aurelia, subject={"id": "did:example:sweep", "permit": "sweep"}, types=["Sweep"]
            )
    return world.__dict__["credential"]


def sweep_signing_key(world):
    """Aurelia's active signing key (made if it has none), found once per world."""
    if "signing_key" not in world.__dict__:
        from django.db import transaction

        from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey
        from apps.identity.services import signing_key_create

        owner = {"owner_type": KeyOwnerType.INSTITUTION, "owner_id": str(world.aurelia.pk)}
        key = SigningKey.objects.filter(status=KeyStatus.ACTIVE, **owner).first()
        if key is None:
            with transaction.atomic():
                key = signing_key_create(**owner, institution=world.aurelia)
        world.__dict__["signing_key"] = key
    return world.__dict__["signing_key"]

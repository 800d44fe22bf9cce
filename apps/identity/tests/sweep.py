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

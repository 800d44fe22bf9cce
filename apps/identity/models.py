"""People's accounts and the node's, institutions' and actors' signing keys."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person using the portal. Roles live in tenancy memberships, per institution."""

    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    # did:key of the person's wallet; the identity work fills it in.
    did = models.CharField(_("DID"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username


class KeyOwnerType(models.TextChoices):
    NODE = "node", _("Node")
    INSTITUTION = "institution", _("Institution")
    USER = "user", _("User")
    AGENT = "agent", _("Agent")


class KeyStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RETIRED = "retired", _("Retired")


class SigningKey(models.Model):
    """An Ed25519 key pair; the private half is stored only AES-GCM encrypted.

    Retired keys stay so that what they signed still verifies.
    """

    key_id = models.CharField(max_length=100, unique=True)
    owner_type = models.CharField(max_length=20, choices=KeyOwnerType.choices)
    owner_id = models.CharField(max_length=100, blank=True)
    algorithm = models.CharField(max_length=20, default="Ed25519")
    public_key = models.BinaryField()
    encrypted_private_key = models.BinaryField(editable=False)
    status = models.CharField(max_length=10, choices=KeyStatus.choices, default=KeyStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["owner_type", "owner_id", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_type", "owner_id"],
                condition=models.Q(status="active"),
                name="signingkey_one_active_per_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.owner_type}:{self.owner_id or '-'} {self.key_id} ({self.status})"

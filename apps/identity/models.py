"""People's accounts and the node's, institutions' and actors' signing keys."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.tenancy.models import InstitutionOwned
from portal.models import GuardedStatus


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


# --- Verifiable credentials (W3C VC Data Model 2.0) -----------------------------------

# Bitstring Status List: at least 16 KB of bits (131,072 entries) per list, for herd privacy.
STATUS_LIST_BITS = 131_072


class StatusPurpose(models.TextChoices):
    REVOCATION = "revocation", _("Revocation")
    SUSPENSION = "suspension", _("Suspension")


class CredentialStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    REVOKED = "revoked", _("Revoked")


class StatusList(InstitutionOwned):
    """One Bitstring Status List of an institution: bit i set means entry i has the purpose's status."""

    purpose = models.CharField(max_length=20, choices=StatusPurpose.choices)
    number = models.PositiveIntegerField()
    size = models.PositiveIntegerField(default=STATUS_LIST_BITS)
    bits = models.BinaryField()
    next_index = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["institution", "purpose", "number"], name="statuslist_unique_number"),
        ]

    def __str__(self) -> str:
        return self.list_id

    @property
    def list_id(self) -> str:
        """The list's name in its public URL: `revocation-1`."""
        return f"{self.purpose}-{self.number}"

    def bit(self, index: int) -> bool:
        return bool(bytes(self.bits)[index // 8] & (0x80 >> (index % 8)))


class Credential(GuardedStatus, InstitutionOwned):
    """A verifiable credential an institution issued; `document` is the signed credential as issued."""

    # Allowed status changes; revocation is final.
    TRANSITIONS = {
        CredentialStatus.ACTIVE: {CredentialStatus.SUSPENDED, CredentialStatus.REVOKED},
        CredentialStatus.SUSPENDED: {CredentialStatus.ACTIVE, CredentialStatus.REVOKED},
        CredentialStatus.REVOKED: set(),
    }
    transition_error = _("A %(current)s credential cannot become %(new)s.")

    uuid = models.UUIDField(unique=True, editable=False)
    types = models.JSONField(default=list)
    subject_id = models.CharField(max_length=300, blank=True)
    issuer_did = models.CharField(max_length=300)
    key_id = models.CharField(max_length=100)
    document = models.JSONField()
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=CredentialStatus.choices, default=CredentialStatus.ACTIVE)
    revocation_list = models.ForeignKey(StatusList, on_delete=models.PROTECT, related_name="+")
    revocation_index = models.PositiveIntegerField()
    suspension_list = models.ForeignKey(StatusList, on_delete=models.PROTECT, related_name="+")
    suspension_index = models.PositiveIntegerField()
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["institution", "-created_at"])]

    def __str__(self) -> str:
        return f"{', '.join(self.types)} {self.uuid}"


# Integrator clients (OAuth2/OIDC) live in their own module; imported here so Django registers them.
from apps.identity.oauth.models import IntegratorClient  # noqa: E402, F401

# --- Residence and the wallet (a citizen proves residence; the wallet holds and presents) ----


class ResidenceRequestStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ResidenceRequest(GuardedStatus, InstitutionOwned):
    """A person asks a municipality to confirm where they live; approval issues a ResidenceCredential."""

    # Only a submitted request is decided or withdrawn; every decision is final.
    TRANSITIONS = {
        ResidenceRequestStatus.SUBMITTED: {
            ResidenceRequestStatus.APPROVED,
            ResidenceRequestStatus.REJECTED,
            ResidenceRequestStatus.WITHDRAWN,
        },
        ResidenceRequestStatus.APPROVED: set(),
        ResidenceRequestStatus.REJECTED: set(),
        ResidenceRequestStatus.WITHDRAWN: set(),
    }
    transition_error = _("A %(current)s request cannot become %(new)s.")

    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    address_line1 = models.CharField(_("address"), max_length=200)
    address_line2 = models.CharField(_("address, second line"), max_length=200, blank=True)
    postcode = models.CharField(_("postcode"), max_length=20)
    city = models.CharField(_("town or city"), max_length=100)
    # The file's name in the default storage (under MEDIA_ROOT, random); served only by the civil
    # servants' view. A path, not a FileField: rows are hashed into the audit log as plain JSON.
    document_path = models.CharField(max_length=200, blank=True)
    document_name = models.CharField(max_length=200, blank=True)
    document_content_type = models.CharField(max_length=50, blank=True)
    status = models.CharField(
        max_length=20, choices=ResidenceRequestStatus.choices, default=ResidenceRequestStatus.SUBMITTED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    credential = models.ForeignKey(Credential, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["institution", "status", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "applicant"],
                condition=models.Q(status="submitted"),
                name="residencerequest_one_open_per_applicant",
            )
        ]

    def __str__(self) -> str:
        return f"{self.applicant} · {self.postcode} {self.city} ({self.status})"


class Presentation(models.Model):
    """A verifiable presentation a person made from their wallet, for one verifier's challenge.

    Not institution-owned: it is the holder's, whichever institution issued the credential."""

    uuid = models.UUIDField(unique=True, editable=False)
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    credential = models.ForeignKey(Credential, on_delete=models.PROTECT, related_name="+")
    challenge = models.CharField(max_length=200)
    domain = models.CharField(max_length=200, blank=True)
    document = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["holder", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.holder} · {self.uuid}"

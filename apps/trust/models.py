"""Threshold (k-of-n) approvals of federation-level acts, and key ceremonies."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.tenancy.models import Institution, InstitutionOwned
from portal.models import GuardedStatus


class ActType(models.TextChoices):
    ADMIT_INSTITUTION = "admit_institution", _("Admit an institution")
    CERTIFY_AGENT = "certify_agent", _("Certify an agent into the shared registry")
    REVOKE_AGENT = "revoke_agent", _("Revoke an agent from the shared registry")
    ROTATE_TRUST_ANCHOR = "rotate_trust_anchor", _("Rotate a trust anchor")
    SHARE_COUNCIL = "share_council", _("Share a council with another institution")


class ThresholdPolicy(models.Model):
    """Which institutions are authorities for an act type, and how many must sign (k of n).

    A federation-level row, not one institution's: it is read by every authority. A
    proposal copies the policy into the document its authorities sign, so a later edit
    of the policy never changes what an existing proposal needs.
    """

    name = models.CharField(_("name"), max_length=200, unique=True)
    act_type = models.CharField(_("act type"), max_length=40, choices=ActType.choices, unique=True)
    k = models.PositiveSmallIntegerField(_("signatures required"))
    authorities = models.ManyToManyField(Institution, related_name="+", verbose_name=_("authority institutions"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["act_type"]
        verbose_name = _("threshold policy")
        verbose_name_plural = _("threshold policies")
        constraints = [models.CheckConstraint(condition=models.Q(k__gte=1), name="thresholdpolicy_k_positive")]

    def __str__(self) -> str:
        return f"{self.name} ({self.k} of {self.authorities.count()})"


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", _("Awaiting signatures")
    APPROVED = "approved", _("Approved and in effect")
    REJECTED = "rejected", _("Withdrawn")
    EXPIRED = "expired", _("Expired")


class ThresholdProposal(GuardedStatus, InstitutionOwned):
    """A proposed act and the exact document its authorities sign.

    `canonical` is the RFC 8785 (JCS) form of the document and `digest` its SHA-256; the
    document holds the act, its payload, the proposing institution and a copy of the
    policy (k and the authorities), so a signature binds all of them.
    """

    TRANSITIONS = {
        ProposalStatus.PROPOSED: {ProposalStatus.APPROVED, ProposalStatus.REJECTED, ProposalStatus.EXPIRED},
    }
    transition_error = _("A proposal that is “%(current)s” cannot become “%(new)s”.")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    policy = models.ForeignKey(ThresholdPolicy, on_delete=models.PROTECT, related_name="proposals")
    act_type = models.CharField(_("act type"), max_length=40, choices=ActType.choices)
    payload = models.JSONField(_("payload"))
    # The copy of the policy the document carries: who may sign, and how many must.
    k = models.PositiveSmallIntegerField()
    authorities = models.ManyToManyField(Institution, related_name="+")
    canonical = models.TextField(editable=False)
    digest = models.CharField(max_length=64, editable=False)
    status = models.CharField(max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Set by the service to the instant written into the signed document.
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    effect_result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "expires_at"])]
        verbose_name = _("threshold proposal")
        verbose_name_plural = _("threshold proposals")

    def __str__(self) -> str:
        return f"{self.get_act_type_display()} {self.uid} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == ProposalStatus.PROPOSED and self.expires_at > timezone.now()

    def on_transition(self, previous: str, status: str) -> None:
        self.decided_at = timezone.now()


class ThresholdSignature(models.Model):
    """One authority's signature over a proposal's document.

    Part of the proposal (read through it, never on its own), so not a tenant-owned row
    of the signing authority: the proposer and every authority see the same list. The
    public key is copied so the signature still verifies after the key is retired.
    """

    proposal = models.ForeignKey(ThresholdProposal, on_delete=models.CASCADE, related_name="signatures")
    authority = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    key_id = models.CharField(max_length=100)
    public_key = models.BinaryField()
    signature = models.BinaryField()
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "authority"], name="thresholdsignature_one_per_authority")
        ]

    def __str__(self) -> str:
        return f"{self.authority} on {self.proposal_id}"


class KeyCeremony(models.Model):
    """A record that a key was split among officers (never the key, never a share)."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key_id = models.CharField(max_length=100)
    k = models.PositiveSmallIntegerField()
    n = models.PositiveSmallIntegerField()
    officers = models.JSONField(default=list)
    conducted_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Key ceremony {self.uid} ({self.k} of {self.n}, {self.key_id})"

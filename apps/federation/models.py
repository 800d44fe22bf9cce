"""Signed envelopes: what an institution sent (outbox) and what it accepted (inbox).

An envelope is stored exactly as it travelled (`document`), so what the pages show and
what a verifier recomputes is byte for byte what was signed.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.tenancy.models import InstitutionOwned
from portal.models import GuardedStatus


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


OUTBOX_TRANSITIONS = {
    OutboxStatus.PENDING: {OutboxStatus.DELIVERED, OutboxStatus.FAILED},
    OutboxStatus.DELIVERED: set(),
    OutboxStatus.FAILED: set(),
}


class DeliveryRoute(models.TextChoices):
    LOCAL = "local", _("In-process (same node)")
    REMOTE = "remote", _("Over the network")


class OutboxEnvelope(GuardedStatus, InstitutionOwned):
    """An envelope the institution (the sender) signed; pending until the recipient accepts it."""

    TRANSITIONS = OUTBOX_TRANSITIONS
    transition_error = _("An envelope that is %(current)s cannot become %(new)s.")

    envelope_id = models.UUIDField(_("envelope id"), unique=True)
    type = models.CharField(_("type"), max_length=100)
    sender_did = models.CharField(_("sender DID"), max_length=300)
    recipient_did = models.CharField(_("recipient DID"), max_length=300)
    route = models.CharField(_("route"), max_length=10, choices=DeliveryRoute.choices)
    document = models.JSONField(_("signed envelope"))
    body_digest = models.CharField(_("body digest (SHA-256)"), max_length=64)
    status = models.CharField(_("status"), max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(_("delivery attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), db_index=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_by = models.CharField(_("sent by"), max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        verbose_name = _("outbox envelope")
        verbose_name_plural = _("outbox envelopes")

    def __str__(self) -> str:
        return f"{self.type} → {self.recipient_did} ({self.envelope_id})"


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered", _("Delivered")
    ALREADY_ACCEPTED = "already_accepted", _("Already accepted by the recipient")
    REJECTED = "rejected", _("Rejected by the recipient")
    ERROR = "error", _("Error, will retry")


class DeliveryAttempt(InstitutionOwned):
    """One try at handing an outbox envelope to its recipient."""

    envelope = models.ForeignKey(OutboxEnvelope, on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveIntegerField(_("attempt"))
    outcome = models.CharField(_("outcome"), max_length=20, choices=AttemptOutcome.choices)
    status_code = models.PositiveIntegerField(_("HTTP status"), null=True, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    attempted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["envelope", "number"]
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")

    def __str__(self) -> str:
        return f"#{self.number} {self.outcome}"


class InboxEnvelope(InstitutionOwned):
    """An envelope the institution (the recipient) accepted after verifying it; stored once."""

    envelope_id = models.UUIDField(_("envelope id"))
    type = models.CharField(_("type"), max_length=100)
    sender_did = models.CharField(_("sender DID"), max_length=300)
    recipient_did = models.CharField(_("recipient DID"), max_length=300)
    key_id = models.CharField(_("signing key"), max_length=400)
    sent_at = models.DateTimeField(_("signed at"))
    document = models.JSONField(_("signed envelope"))
    body_digest = models.CharField(_("body digest (SHA-256)"), max_length=64)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["envelope_id", "institution"], name="inboxenvelope_once_per_recipient"),
        ]
        verbose_name = _("inbox envelope")
        verbose_name_plural = _("inbox envelopes")

    def __str__(self) -> str:
        return f"{self.type} ← {self.sender_did} ({self.envelope_id})"

    @property
    def body(self) -> dict:
        return self.document.get("body", {})

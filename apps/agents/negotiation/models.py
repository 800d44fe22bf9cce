"""Contract-net negotiation: calls for proposals, bids, awards and contracts.

The announcer keeps `Announcement`, its `Bid`s (local and received through envelopes) and
the `Contract`; an invited institution keeps the `ReceivedCall` and the `SentBid`s its
agents made. Each side writes only its own rows; what crosses is a signed envelope.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.tenancy.models import InstitutionOwned
from portal.models import GuardedStatus

__all__ = [
    "Announcement",
    "AnnouncementStatus",
    "Bid",
    "BidOutcome",
    "BidSource",
    "Contract",
    "ContractStatus",
    "ReceivedCall",
    "ReceivedCallStatus",
    "SentBid",
]


class AnnouncementStatus(models.TextChoices):
    # a context of their own, as for agents: gender and number differ between the objects
    OPEN = "open", pgettext_lazy("call status", "Open for bids")
    AWARDED = "awarded", pgettext_lazy("call status", "Awarded")
    CONTRACTED = "contracted", pgettext_lazy("call status", "Contract signed")
    CANCELLED = "cancelled", pgettext_lazy("call status", "Cancelled")
    FAILED = "failed", pgettext_lazy("call status", "No acceptable bid")


class BidSource(models.TextChoices):
    LOCAL = "local", _("An agent of this institution")
    ENVELOPE = "envelope", _("An agent of another institution (signed envelope)")


class BidOutcome(models.TextChoices):
    PENDING = "pending", _("Awaiting the award")
    WON = "won", _("Won")
    LOST = "lost", _("Not chosen")
    EXCLUDED = "excluded", _("Excluded at the award")


class Announcement(GuardedStatus, InstitutionOwned):
    """A call for proposals: a task offered to capable agents, here and at invited institutions."""

    TRANSITIONS = {
        AnnouncementStatus.OPEN: {AnnouncementStatus.AWARDED, AnnouncementStatus.FAILED, AnnouncementStatus.CANCELLED},
        AnnouncementStatus.AWARDED: {AnnouncementStatus.CONTRACTED, AnnouncementStatus.CANCELLED},
    }
    transition_error = _("A call for proposals that is “%(current)s” cannot become “%(new)s”.")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    task_type = models.CharField(_("task type"), max_length=80)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    specification = models.JSONField(_("specification"), default=dict, blank=True)
    # award criteria, normalised to sum to 1 (scoring.clean_weights)
    weight_price = models.FloatField(_("weight of the price"))
    weight_time = models.FloatField(_("weight of the time"))
    weight_confidence = models.FloatField(_("weight of the confidence"))
    currency = models.CharField(_("currency"), max_length=3)
    max_price = models.DecimalField(
        _("highest acceptable price"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    max_hours = models.PositiveIntegerField(_("longest acceptable completion time (hours)"), null=True, blank=True)
    bidding_deadline = models.DateTimeField(_("bidding deadline"))
    invited = models.JSONField(_("invited institutions (DIDs)"), default=list, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=AnnouncementStatus.choices, default=AnnouncementStatus.OPEN
    )
    # what the award weighed and why: weights, every bid's criteria and score, the winner
    award_reasoning = models.JSONField(_("award reasoning"), default=dict, blank=True)
    awarded_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["institution", "status"])]
        verbose_name = _("call for proposals")
        verbose_name_plural = _("calls for proposals")

    def __str__(self) -> str:
        return self.title

    @property
    def weights(self) -> dict[str, float]:
        return {"price": self.weight_price, "time": self.weight_time, "confidence": self.weight_confidence}

    @property
    def bidding_open(self) -> bool:
        return self.status == AnnouncementStatus.OPEN and timezone.now() < self.bidding_deadline

    def on_transition(self, previous: str, status: str) -> None:
        if status in (AnnouncementStatus.AWARDED, AnnouncementStatus.FAILED):
            self.awarded_at = timezone.now()


class Bid(InstitutionOwned):
    """One agent's signed offer for a call, kept by the announcer (local or through an envelope)."""

    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE, related_name="bids")
    source = models.CharField(max_length=10, choices=BidSource.choices)
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    agent_did = models.CharField(_("agent DID"), max_length=300)
    agent_name = models.CharField(_("agent"), max_length=200)
    bidder_did = models.CharField(_("bidding institution (DID)"), max_length=300)
    bidder_name = models.CharField(_("bidding institution"), max_length=200, blank=True)
    price = models.DecimalField(_("price"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    hours = models.PositiveIntegerField(_("completion time (hours)"))
    confidence = models.DecimalField(_("confidence"), max_digits=4, decimal_places=3)
    # the canonical bid the agent signed (services.bid_document), its Ed25519 signature (base64url)
    document = models.JSONField(default=dict)
    signature = models.CharField(max_length=200)
    envelope_id = models.UUIDField(null=True, blank=True)
    submitted_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # filled in by the award
    outcome = models.CharField(max_length=10, choices=BidOutcome.choices, default=BidOutcome.PENDING)
    reputation_weight = models.FloatField(null=True, blank=True)
    criteria_score = models.FloatField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    rank = models.PositiveIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["announcement", "agent_did"], name="bid_once_per_agent"),
        ]
        verbose_name = _("bid")
        verbose_name_plural = _("bids")

    def __str__(self) -> str:
        return f"bid of {self.agent_name} on {self.announcement_id}"


class ContractStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("contract status", "Awaiting a signature")
    SIGNED = "signed", pgettext_lazy("contract status", "Signed")
    VOID = "void", pgettext_lazy("contract status", "Void")


class Contract(GuardedStatus, InstitutionOwned):
    """The contract an award produces; a person of the announcer signs it with their own key."""

    TRANSITIONS = {ContractStatus.DRAFT: {ContractStatus.SIGNED, ContractStatus.VOID}}
    transition_error = _("A contract that is “%(current)s” cannot become “%(new)s”.")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    announcement = models.OneToOneField(Announcement, on_delete=models.CASCADE, related_name="contract")
    bid = models.OneToOneField(Bid, on_delete=models.PROTECT, related_name="contract")
    # the canonical contract (services.contract_document); what the person signs
    document = models.JSONField(default=dict)
    digest = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=ContractStatus.choices, default=ContractStatus.DRAFT)
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signer_did = models.CharField(max_length=300, blank=True)
    key_id = models.CharField(max_length=100, blank=True)
    # the signed statement (contract, signer, time) and its Ed25519 signature (base64url)
    signed_statement = models.JSONField(default=dict, blank=True)
    signature = models.CharField(max_length=200, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")

    def __str__(self) -> str:
        return f"contract {self.uid}"

    def on_transition(self, previous: str, status: str) -> None:
        if status == ContractStatus.SIGNED:
            self.signed_at = timezone.now()


class ReceivedCallStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("received call status", "Open for bids")
    AWARDED = "awarded", pgettext_lazy("received call status", "Won by one of our agents")
    NOT_WON = "not_won", pgettext_lazy("received call status", "Not won")
    CONTRACTED = "contracted", pgettext_lazy("received call status", "Contract signed")
    CANCELLED = "cancelled", pgettext_lazy("received call status", "Cancelled by the announcer")


class ReceivedCall(GuardedStatus, InstitutionOwned):
    """A call for proposals another institution invited this one to, as its envelope said."""

    TRANSITIONS = {
        ReceivedCallStatus.OPEN: {
            ReceivedCallStatus.AWARDED,
            ReceivedCallStatus.NOT_WON,
            ReceivedCallStatus.CANCELLED,
        },
        ReceivedCallStatus.AWARDED: {ReceivedCallStatus.CONTRACTED, ReceivedCallStatus.CANCELLED},
        # one of our agents lost before another's award arrived
        ReceivedCallStatus.NOT_WON: {ReceivedCallStatus.AWARDED, ReceivedCallStatus.CANCELLED},
    }
    transition_error = _("A received call that is “%(current)s” cannot become “%(new)s”.")

    call_uid = models.UUIDField()
    announcer_did = models.CharField(_("announcing institution (DID)"), max_length=300)
    announcer_name = models.CharField(_("announcing institution"), max_length=200, blank=True)
    task_type = models.CharField(_("task type"), max_length=80)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    specification = models.JSONField(_("specification"), default=dict, blank=True)
    weights = models.JSONField(_("award criteria"), default=dict)
    currency = models.CharField(_("currency"), max_length=3)
    max_price = models.DecimalField(
        _("highest acceptable price"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    max_hours = models.PositiveIntegerField(_("longest acceptable completion time (hours)"), null=True, blank=True)
    bidding_deadline = models.DateTimeField(_("bidding deadline"))
    status = models.CharField(
        _("status"), max_length=12, choices=ReceivedCallStatus.choices, default=ReceivedCallStatus.OPEN
    )
    envelope_id = models.UUIDField()
    # the counterparty's signed contract, when the announcer sends it
    contract = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "call_uid"], name="receivedcall_once_per_institution"),
        ]
        verbose_name = _("received call for proposals")
        verbose_name_plural = _("received calls for proposals")

    def __str__(self) -> str:
        return self.title

    @property
    def bidding_open(self) -> bool:
        return self.status == ReceivedCallStatus.OPEN and timezone.now() < self.bidding_deadline


class SentBid(InstitutionOwned):
    """A bid one of this institution's agents sent to another institution's call."""

    call = models.ForeignKey(ReceivedCall, on_delete=models.CASCADE, related_name="sent_bids")
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="+")
    price = models.DecimalField(_("price"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    hours = models.PositiveIntegerField(_("completion time (hours)"))
    confidence = models.DecimalField(_("confidence"), max_digits=4, decimal_places=3)
    document = models.JSONField(default=dict)
    signature = models.CharField(max_length=200)
    envelope_id = models.UUIDField()
    outcome = models.CharField(max_length=10, choices=BidOutcome.choices, default=BidOutcome.PENDING)
    # what the announcer's award said about this bid (score, rank, winner's score)
    award = models.JSONField(default=dict, blank=True)
    submitted_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["call", "agent"], name="sentbid_once_per_agent"),
        ]
        verbose_name = _("sent bid")
        verbose_name_plural = _("sent bids")

    def __str__(self) -> str:
        return f"bid of {self.agent_id} on {self.call_id}"

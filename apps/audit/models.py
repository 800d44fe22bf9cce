"""The transparency log: events, the sequencer's head, and signed tree heads."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.tenancy.models import InstitutionOwned
from portal.models import GuardedStatus


class ActorType(models.TextChoices):
    USER = "user", _("User")
    AGENT = "agent", _("Agent")
    NODE = "node", _("Node")
    SYSTEM = "system", _("System")
    ANONYMOUS = "anonymous", _("Anonymous")


class AuditEvent(models.Model):
    """One governance event. Append-only: rows are never updated except by the sequencer,
    which fills `sequence`, `leaf_hash` and `root_after` exactly once.

    The log spans the node (logins have no institution), so it is not tenant-owned;
    every read for people goes through selectors that take the institution.
    """

    created_at = models.DateTimeField(db_index=True)
    institution = models.ForeignKey(
        "tenancy.Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    actor_id = models.CharField(max_length=300, blank=True)
    actor_label = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the target's new state")
    changes = models.JSONField(default=dict, blank=True)

    # Filled by the sequencer (the only writer of these three columns).
    sequence = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    leaf_hash = models.CharField(max_length=64, blank=True)
    root_after = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["sequence", "id"]
        indexes = [
            models.Index(fields=["institution", "-created_at"]),
            models.Index(fields=["target_type", "target_id"]),
            # An auditor's list: one institution's sequenced events, newest first.
            models.Index(fields=["institution", "-sequence"], name="audit_event_inst_seq_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence if self.sequence is not None else '?'} {self.action}"


class LogHead(models.Model):
    """The sequencer's state: one row, locked while a batch is sequenced."""

    tree_size = models.PositiveBigIntegerField(default=0)
    compact_range = models.JSONField(default=list, help_text="hex roots of the perfect subtrees")
    root_hash = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"log head size={self.tree_size}"


class SignedTreeHead(models.Model):
    """A signed statement of the log's size and root at a moment."""

    tree_size = models.PositiveBigIntegerField()
    root_hash = models.CharField(max_length=64)
    timestamp = models.DateTimeField()
    key = models.ForeignKey("identity.SigningKey", on_delete=models.PROTECT, related_name="+")
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["-tree_size", "-timestamp"]
        get_latest_by = "tree_size"

    def __str__(self) -> str:
        return f"STH size={self.tree_size} root={self.root_hash[:12]}…"


class VerificationStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    PASSED = "passed", _("Passed: the log is intact")
    FAILED = "failed", _("Failed: the log was tampered with")
    ERROR = "error", _("Could not finish")


class LogVerification(GuardedStatus, InstitutionOwned):
    """An auditor's request to recompute the whole log, run by a worker with progress.

    Findings name positions and row ids only, never another institution's content."""

    TRANSITIONS = {
        VerificationStatus.QUEUED: {VerificationStatus.RUNNING, VerificationStatus.ERROR},
        VerificationStatus.RUNNING: {VerificationStatus.PASSED, VerificationStatus.FAILED, VerificationStatus.ERROR},
    }
    transition_error = _("A verification that is “%(current)s” cannot become “%(new)s”.")

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=VerificationStatus.choices, default=VerificationStatus.QUEUED)
    entries_total = models.PositiveBigIntegerField(default=0)
    entries_checked = models.PositiveBigIntegerField(default=0)
    tree_heads_checked = models.PositiveIntegerField(default=0)
    root_hash = models.CharField(max_length=64, blank=True)
    findings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Verification {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {VerificationStatus.PASSED, VerificationStatus.FAILED, VerificationStatus.ERROR}

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        if not self.entries_total:
            return 0
        return min(99, int(100 * self.entries_checked / self.entries_total))

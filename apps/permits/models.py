"""Permit types, applications with their timeline, and issued permits."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.tenancy.models import InstitutionOwned
from portal.models import GuardedStatus


class PermitType(InstitutionOwned):
    """What an institution grants: the application's fields (a small schema), attachments, fee, validity,
    and who reviews it (an agent cluster, optionally a council; `process_key` names a BPMN process)."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("short name"), max_length=60)
    description = models.TextField(_("description"), blank=True)
    # [{"name", "label", "type": text|number|boolean|date|choice, "required", "choices"}]; see schema.py
    fields = models.JSONField(_("application fields"), default=list, blank=True)
    attachments = models.JSONField(_("required attachments"), default=list, blank=True)
    fee_amount = models.DecimalField(_("fee"), max_digits=12, decimal_places=2, default=0)
    fee_currency = models.CharField(_("currency"), max_length=3, default="EUR")
    validity_days = models.PositiveIntegerField(_("validity in days"), default=365)
    cluster = models.ForeignKey(
        "agents.Cluster", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("cluster")
    )
    council = models.ForeignKey(
        "feedback.Council", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("council")
    )
    # the BPMN process id (apps/bpm): a submitted application starts the institution's latest version of it
    process_key = models.CharField(_("BPMN process key"), max_length=200, blank=True)
    # what an inspector checks on a permit of this type, one sentence each
    conditions = models.JSONField(_("permit conditions"), default=list, blank=True)
    # the agents that rate an issued permit's inspection risk (high, medium, low); none: medium
    inspection_cluster = models.ForeignKey(
        "agents.Cluster",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("inspection risk cluster"),
    )
    cure_days = models.PositiveIntegerField(_("days to cure a violation"), default=14)
    active = models.BooleanField(_("open for applications"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "slug"], name="permittype_unique_slug_per_institution")
        ]

    def __str__(self) -> str:
        return self.name


class ApplicationStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    UNDER_REVIEW = "under_review", _("Under review by the agents")
    INFORMATION_REQUESTED = "information_requested", _("Information requested")
    AWAITING_CONFIRMATION = "awaiting_confirmation", _("Awaiting a civil servant")
    IN_COUNCIL = "in_council", _("Before the council")
    APPROVED = "approved", _("Approved")
    REFUSED = "refused", _("Refused")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    ISSUED = "issued", _("Permit issued")


S = ApplicationStatus
OPEN_STATUSES = frozenset(
    {S.DRAFT, S.SUBMITTED, S.UNDER_REVIEW, S.INFORMATION_REQUESTED, S.AWAITING_CONFIRMATION, S.IN_COUNCIL}
)


class PermitApplication(GuardedStatus, InstitutionOwned):
    TRANSITIONS = {
        S.DRAFT: {S.SUBMITTED, S.WITHDRAWN},
        S.SUBMITTED: {S.UNDER_REVIEW, S.INFORMATION_REQUESTED, S.APPROVED, S.REFUSED, S.WITHDRAWN},
        S.UNDER_REVIEW: {S.AWAITING_CONFIRMATION, S.IN_COUNCIL, S.WITHDRAWN},
        S.INFORMATION_REQUESTED: {S.SUBMITTED, S.WITHDRAWN},
        S.AWAITING_CONFIRMATION: {S.INFORMATION_REQUESTED, S.APPROVED, S.REFUSED, S.WITHDRAWN},
        S.IN_COUNCIL: {S.APPROVED, S.REFUSED, S.WITHDRAWN},
        S.APPROVED: {S.ISSUED},
        S.REFUSED: {S.IN_COUNCIL},  # an appeal
        S.WITHDRAWN: set(),
        S.ISSUED: set(),
    }
    transition_error = _("An application that is “%(current)s” cannot become “%(new)s”.")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    permit_type = models.ForeignKey(PermitType, on_delete=models.PROTECT, related_name="applications")
    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=30, choices=ApplicationStatus.choices, default=ApplicationStatus.DRAFT)
    data = models.JSONField(_("answers"), default=dict, blank=True)
    # [{"name", "path", "original_name", "content_type", "size"}]; files under MEDIA_ROOT/permits/, never public
    attachments = models.JSONField(default=list, blank=True)
    cluster_run = models.ForeignKey(
        "agents.ClusterRun", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    agent_decision = models.CharField(max_length=100, blank=True)  # the agents' proposal a civil servant confirms
    information_request = models.TextField(blank=True)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # the BPMN process this application runs in (its type's `process_key`), if any
    process_instance = models.ForeignKey(
        "bpm.ProcessInstance", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # set by the process (`permits.review` with approve_automatically): the agents' unflagged approval stands
    approve_automatically = models.BooleanField(default=False)
    # a renewal: the permit it continues
    renews = models.ForeignKey("Permit", on_delete=models.PROTECT, null=True, blank=True, related_name="renewals")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["institution", "status", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.permit_type} · {self.applicant} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ApplicationEvent(InstitutionOwned):
    """One step of an application's timeline: the status it moved to, why, and who moved it."""

    application = models.ForeignKey(PermitApplication, on_delete=models.CASCADE, related_name="events")
    status_from = models.CharField(max_length=30, choices=ApplicationStatus.choices, blank=True)
    status_to = models.CharField(max_length=30, choices=ApplicationStatus.choices)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]


class PermitStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    REVOKED = "revoked", _("Revoked")
    EXPIRED = "expired", _("Expired")


class Permit(GuardedStatus, InstitutionOwned):
    """An issued permit; the signed PermitCredential is what a verifier checks."""

    TRANSITIONS = {
        PermitStatus.ACTIVE: {PermitStatus.SUSPENDED, PermitStatus.REVOKED, PermitStatus.EXPIRED},
        PermitStatus.SUSPENDED: {PermitStatus.ACTIVE, PermitStatus.REVOKED, PermitStatus.EXPIRED},
        PermitStatus.REVOKED: set(),
        PermitStatus.EXPIRED: set(),
    }
    transition_error = _("A permit that is “%(current)s” cannot become “%(new)s”.")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    application = models.OneToOneField(PermitApplication, on_delete=models.PROTECT, related_name="permit")
    permit_type = models.ForeignKey(PermitType, on_delete=models.PROTECT, related_name="permits")
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    credential = models.ForeignKey("identity.Credential", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=PermitStatus.choices, default=PermitStatus.ACTIVE)
    status_reason = models.TextField(blank=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "valid_until"])]

    def __str__(self) -> str:
        return f"{self.permit_type} · {self.holder} ({self.status})"


class Risk(models.TextChoices):
    HIGH = "high", _("High risk")
    MEDIUM = "medium", _("Medium risk")
    LOW = "low", _("Low risk")


class InspectionKind(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    FOLLOW_UP = "follow_up", _("Follow-up of a violation")
    PROCESS = "process", _("Step of the permit's process")


class InspectionStatus(models.TextChoices):
    ASSESSING = "assessing", pgettext_lazy("inspection", "Risk being assessed")
    SCHEDULED = "scheduled", pgettext_lazy("inspection", "Scheduled")
    COMPLETED = "completed", pgettext_lazy("inspection", "Completed")
    CANCELLED = "cancelled", pgettext_lazy("inspection", "Cancelled")


class InspectionOutcome(models.TextChoices):
    COMPLIANT = "compliant", _("All conditions met")
    VIOLATIONS = "violations", _("Violations found")


class Inspection(GuardedStatus, InstitutionOwned):
    """A visit checking an issued permit's conditions: rated for risk by the agents, due by that risk,
    reported by an inspector (a civil servant) from a phone."""

    TRANSITIONS = {
        InspectionStatus.ASSESSING: {InspectionStatus.SCHEDULED, InspectionStatus.CANCELLED},
        InspectionStatus.SCHEDULED: {InspectionStatus.COMPLETED, InspectionStatus.CANCELLED},
        InspectionStatus.COMPLETED: set(),
        InspectionStatus.CANCELLED: set(),
    }
    transition_error = _("An inspection that is “%(current)s” cannot become “%(new)s”.")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    permit = models.ForeignKey(Permit, on_delete=models.PROTECT, related_name="inspections")
    kind = models.CharField(max_length=20, choices=InspectionKind.choices, default=InspectionKind.ROUTINE)
    status = models.CharField(max_length=20, choices=InspectionStatus.choices, default=InspectionStatus.ASSESSING)
    risk = models.CharField(max_length=10, choices=Risk.choices, blank=True)
    risk_reason = models.TextField(blank=True)
    risk_run = models.ForeignKey("agents.ClusterRun", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    due_on = models.DateField(null=True, blank=True)
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=20, choices=InspectionOutcome.choices, blank=True)
    # [{"condition": text, "met": bool, "note": text}], one per condition of the permit type
    findings = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["institution", "status", "due_on"])]

    def __str__(self) -> str:
        return f"{self.permit} · {self.kind} ({self.status})"


class ViolationStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("violation", "Open, to be cured")
    OVERDUE = "overdue", pgettext_lazy("violation", "Not cured in time")
    CURED = "cured", pgettext_lazy("violation", "Cured")
    WAIVED = "waived", pgettext_lazy("violation", "Waived")


class Violation(GuardedStatus, InstitutionOwned):
    """A condition an inspection found unmet, with the deadline to cure it. Not cured in time, the
    permit is suspended; once every violation behind a suspension is cured or waived, reinstated."""

    TRANSITIONS = {
        ViolationStatus.OPEN: {ViolationStatus.CURED, ViolationStatus.OVERDUE, ViolationStatus.WAIVED},
        ViolationStatus.OVERDUE: {ViolationStatus.CURED, ViolationStatus.WAIVED},
        ViolationStatus.CURED: set(),
        ViolationStatus.WAIVED: set(),
    }
    transition_error = _("A violation that is “%(current)s” cannot become “%(new)s”.")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    permit = models.ForeignKey(Permit, on_delete=models.PROTECT, related_name="violations")
    inspection = models.ForeignKey(
        Inspection, on_delete=models.PROTECT, null=True, blank=True, related_name="violations"
    )
    condition = models.TextField()
    description = models.TextField(blank=True)
    cure_by = models.DateField()
    status = models.CharField(max_length=20, choices=ViolationStatus.choices, default=ViolationStatus.OPEN)
    resolution = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cure_by", "pk"]
        indexes = [models.Index(fields=["status", "cure_by"])]

    def __str__(self) -> str:
        return f"{self.permit} · {self.condition[:40]} ({self.status})"

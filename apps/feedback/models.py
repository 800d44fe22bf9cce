"""Citizen councils, their members and draws by lot, and the review queue with votes and verdicts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.tenancy.models import InstitutionOwned
from portal.models import GuardedStatus


class Impact(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class MajorityRule(models.TextChoices):
    SIMPLE = "simple", _("More than half")
    TWO_THIRDS = "two_thirds", _("Two thirds")
    UNANIMOUS = "unanimous", _("Unanimity")


class Escalation(models.TextChoices):
    BACKUP_COUNCIL = "backup_council", _("To the back-up council")
    INSTITUTION_ADMIN = "institution_admin", _("To the institution's administrators")


class Council(InstitutionOwned):
    """A council of one institution: what it reviews (its mandate), and how it decides."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    # task types it reviews, e.g. ["permits.event_review"]; "*" covers every task type
    mandate_task_types = models.JSONField(_("task types reviewed"), default=list)
    mandate_impacts = models.JSONField(_("impact levels reviewed"), default=list)
    quorum = models.PositiveSmallIntegerField(_("quorum (votes needed)"), default=3)
    majority = models.CharField(_("majority"), max_length=12, choices=MajorityRule.choices, default=MajorityRule.SIMPLE)
    deadline_hours = models.PositiveIntegerField(_("hours to decide an item"), default=72)
    escalation = models.CharField(
        _("when the deadline passes"), max_length=20, choices=Escalation.choices, default=Escalation.INSTITUTION_ADMIN
    )
    backup_council = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("back-up council")
    )
    # the draw by lot: which volunteer attributes stratify it, e.g. ["district", "age_band"]
    strata_fields = models.JSONField(_("strata of the draw"), default=list, blank=True)
    public_record = models.BooleanField(_("publish pseudonymised verdicts"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["institution", "name"], name="council_unique_name")]
        verbose_name = _("council")
        verbose_name_plural = _("councils")

    def __str__(self) -> str:
        return self.name

    def covers(self, *, task_type: str, impact: str) -> bool:
        types = self.mandate_task_types or []
        return ("*" in types or task_type in types) and impact in (self.mandate_impacts or [])


class MemberKind(models.TextChoices):
    OFFICIAL = "official", _("Official")
    CITIZEN = "citizen", _("Citizen drawn by lot")


class CouncilMember(InstitutionOwned):
    """A seat on a council for a term; a member sits only between `term_start` and `term_end`."""

    council = models.ForeignKey(Council, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="council_seats")
    kind = models.CharField(_("kind"), max_length=10, choices=MemberKind.choices)
    term_start = models.DateField(_("term starts"))
    term_end = models.DateField(_("term ends"))
    draw = models.ForeignKey("CouncilDraw", on_delete=models.PROTECT, null=True, blank=True, related_name="members")
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["council", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["council", "user", "term_start"], name="councilmember_once_per_term")
        ]
        verbose_name = _("council member")
        verbose_name_plural = _("council members")

    def __str__(self) -> str:
        return f"{self.user} on {self.council_id}"

    def sits_on(self, day) -> bool:
        return self.ended_at is None and self.term_start <= day <= self.term_end


class CouncilVolunteer(InstitutionOwned):
    """A person of the institution who offers to be drawn by lot, with the strata they belong to."""

    council = models.ForeignKey(Council, on_delete=models.CASCADE, related_name="volunteers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    strata = models.JSONField(_("strata"), default=dict)  # e.g. {"district": "north", "age_band": "30-44"}
    volunteered_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["council", "user"], name="councilvolunteer_once")]
        verbose_name = _("volunteer")
        verbose_name_plural = _("volunteers")

    def __str__(self) -> str:
        return f"{self.user} volunteers for {self.council_id}"


class CouncilDraw(InstitutionOwned):
    """A draw by lot of citizen members, with everything needed to re-run it: the seed, the
    candidates in order with their strata, the seats per stratum, and the algorithm's name."""

    council = models.ForeignKey(Council, on_delete=models.CASCADE, related_name="draws")
    algorithm = models.CharField(max_length=40)
    seed = models.CharField(_("seed"), max_length=128)
    seats = models.PositiveSmallIntegerField(_("seats"))
    strata_fields = models.JSONField(default=list)
    candidates = models.JSONField(default=list)  # [{"ref": pseudonym, "strata": {...}}], in draw order
    quotas = models.JSONField(default=dict)  # seats per stratum key
    selected = models.JSONField(default=list)  # pseudonyms drawn, in order
    term_start = models.DateField()
    term_end = models.DateField()
    drawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    drawn_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]
        verbose_name = _("draw by lot")
        verbose_name_plural = _("draws by lot")

    def __str__(self) -> str:
        return f"draw {self.pk} of council {self.council_id}"


class ItemKind(models.TextChoices):
    FLAGGED_DECISION = "flagged_decision", _("Decision flagged by the agents")
    APPEAL = "appeal", _("Appeal by a citizen")
    CRITICAL_ACT = "critical_act", _("Critical act")
    SAMPLED_AUDIT = "sampled_audit", _("Sampled audit of an unflagged decision")


class ItemStatus(models.TextChoices):
    # contexts of their own: in French a case ("dossier") is masculine, and "Decided" is also a date label
    OPEN = "open", pgettext_lazy("case status", "Open")
    DECIDED = "decided", pgettext_lazy("case status", "Decided")
    ESCALATED = "escalated", _("Escalated")


class VoteChoice(models.TextChoices):
    APPROVE = "approve", _("Approve the proposed decision")
    REJECT = "reject", _("Reject the proposed decision")
    AMEND = "amend", _("Amend it")


class ReviewItem(GuardedStatus, InstitutionOwned):
    """One case before a council: what the agents (or a person) proposed, and the question."""

    TRANSITIONS = {
        ItemStatus.OPEN: {ItemStatus.DECIDED, ItemStatus.ESCALATED},
    }
    transition_error = _("An item that is “%(current)s” cannot become “%(new)s”.")

    council = models.ForeignKey(Council, on_delete=models.PROTECT, related_name="items")
    kind = models.CharField(_("kind"), max_length=20, choices=ItemKind.choices)
    # the owning domain's registered subject type (apps.feedback.subjects) and its object's id
    subject_type = models.CharField(max_length=60)
    subject_id = models.CharField(max_length=64)
    task_type = models.CharField(_("task type"), max_length=80)
    impact = models.CharField(_("impact"), max_length=10, choices=Impact.choices)
    question = models.TextField(_("question"))
    proposed_decision = models.CharField(_("proposed decision"), max_length=100, blank=True)
    allowed_decisions = models.JSONField(default=list)
    # the case as the agents saw it: record, proposals with claims and evidence, findings, weights
    case = models.JSONField(default=dict)
    citizen = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # the institution whose case it is, when a council shared with it reviews it; the item
    # itself is the council's (its institution's) row. Null: the council's own case.
    case_institution = models.ForeignKey(
        "tenancy.Institution", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reminded_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    deadline = models.DateTimeField(_("deadline"))
    escalated_to = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    escalated_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    verdict = models.CharField(_("verdict"), max_length=10, choices=VoteChoice.choices, blank=True)
    verdict_decision = models.CharField(_("decision after the verdict"), max_length=100, blank=True)
    verdict_reasons = models.JSONField(default=list, blank=True)
    dissent = models.JSONField(default=list, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    apply_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["deadline", "pk"]
        indexes = [
            models.Index(fields=["institution", "council", "status"]),
            models.Index(fields=["status", "deadline"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["council", "subject_type", "subject_id", "kind"], name="reviewitem_once_per_subject"
            )
        ]
        verbose_name = _("review item")
        verbose_name_plural = _("review items")

    def __str__(self) -> str:
        return f"item {self.pk} of council {self.council_id}"

    @property
    def owner_of_case(self):
        """The institution whose case this is (the domain's objects live there)."""
        return self.case_institution or self.institution


class Vote(InstitutionOwned):
    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="votes")
    member = models.ForeignKey(CouncilMember, on_delete=models.PROTECT, related_name="votes")
    choice = models.CharField(_("vote"), max_length=10, choices=VoteChoice.choices)
    amended_decision = models.CharField(_("decision instead"), max_length=100, blank=True)
    reason = models.TextField(_("reason"))
    cast_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["cast_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["item", "member"], name="vote_once_per_member")]
        verbose_name = _("vote")
        verbose_name_plural = _("votes")

    def __str__(self) -> str:
        return f"{self.choice} on item {self.item_id}"


class Recusal(InstitutionOwned):
    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="recusals")
    member = models.ForeignKey(CouncilMember, on_delete=models.PROTECT, related_name="recusals")
    conflict = models.TextField(_("conflict of interest"))
    declared_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["declared_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["item", "member"], name="recusal_once_per_member")]
        verbose_name = _("recusal")
        verbose_name_plural = _("recusals")

    def __str__(self) -> str:
        return f"recusal on item {self.item_id}"


from apps.feedback.membership.models import CouncilShare  # noqa: E402, F401  (membership's own model)

"""The agent registry: agents, their versions and their model cards."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.tenancy.models import InstitutionOwned
from portal.models import GuardedStatus


class AutonomyLevel(models.IntegerChoices):
    ADVISES = 0, _("Advises only")
    ACTS_AFTER_CONFIRMATION = 1, _("Acts after a civil servant confirms")
    ACTS_ALONE = 2, _("Acts alone within its flagging policy")


class EngineName(models.TextChoices):
    RULES = "rules", _("Rules (policy expressions)")
    STATISTICAL = "statistical", _("Statistical model")
    PRECEDENT = "precedent", _("Retrieval of precedent decisions")
    LLM = "llm", _("Language model (OpenAI-compatible endpoint)")


class AgentStatus(models.TextChoices):
    # A context of their own: in French an agent is masculine, a credential feminine.
    DRAFT = "draft", pgettext_lazy("agent status", "Draft")
    CERTIFIED = "certified", pgettext_lazy("agent status", "Certified")
    SUSPENDED = "suspended", pgettext_lazy("agent status", "Suspended")
    RETIRED = "retired", pgettext_lazy("agent status", "Retired")


class Agent(GuardedStatus, InstitutionOwned):
    """A registered, scoped, signed actor of one institution.

    Its DID is the did:key of its own Ed25519 key (owner type `agent`, owner id its uid).
    Only a certified agent is given work (`selectors.agents_available_for`).
    """

    audit_actor_type = "agent"  # how the audit log names an agent acting (not a model field)

    # Certification comes only through a threshold approval; a suspended agent returns to
    # the status it was suspended from (`suspended_from`).
    TRANSITIONS = {
        AgentStatus.DRAFT: {AgentStatus.CERTIFIED, AgentStatus.SUSPENDED, AgentStatus.RETIRED},
        AgentStatus.CERTIFIED: {AgentStatus.DRAFT, AgentStatus.SUSPENDED, AgentStatus.RETIRED},
        AgentStatus.SUSPENDED: {AgentStatus.DRAFT, AgentStatus.CERTIFIED, AgentStatus.RETIRED},
    }
    transition_error = _("An agent that is “%(current)s” cannot become “%(new)s”.")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    did = models.CharField(_("DID"), max_length=300, blank=True)
    name = models.CharField(_("name"), max_length=200)
    purpose = models.TextField(_("purpose"))
    capabilities = models.JSONField(_("capabilities"), default=list)
    autonomy_level = models.PositiveSmallIntegerField(
        _("autonomy level"), choices=AutonomyLevel.choices, default=AutonomyLevel.ADVISES
    )
    engine = models.CharField(_("engine"), max_length=30, choices=EngineName.choices)
    config = models.JSONField(_("engine configuration"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    status = models.CharField(_("status"), max_length=12, choices=AgentStatus.choices, default=AgentStatus.DRAFT)
    suspended_from = models.CharField(max_length=12, choices=AgentStatus.choices, blank=True)
    status_reason = models.TextField(_("reason of the last status change"), blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "name"], name="agent_unique_name_per_institution"),
        ]
        indexes = [models.Index(fields=["institution", "status"])]
        verbose_name = _("agent")
        verbose_name_plural = _("agents")

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def is_active(self) -> bool:
        return self.status == AgentStatus.CERTIFIED

    def on_transition(self, previous: str, status: str) -> None:
        self.suspended_from = previous if status == AgentStatus.SUSPENDED else ""
        self.status_changed_at = timezone.now()


class AgentVersion(InstitutionOwned):
    """One version of an agent: a new row whenever its engine or configuration changes."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    engine = models.CharField(_("engine"), max_length=30, choices=EngineName.choices)
    config = models.JSONField(_("engine configuration"), default=dict, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    changed_by_label = models.CharField(max_length=200, blank=True)
    note = models.TextField(_("what changed"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["agent", "number"], name="agentversion_unique_number")]
        verbose_name = _("agent version")
        verbose_name_plural = _("agent versions")

    def __str__(self) -> str:
        return f"{self.agent_id} v{self.number}"


class ModelCard(InstitutionOwned):
    """What the agent is for, what it learnt from, how well it does, and who answers for it."""

    agent = models.OneToOneField(Agent, on_delete=models.CASCADE, related_name="model_card")
    purpose = models.TextField(_("intended use"), blank=True)
    # [{"name": ..., "provenance": ...}]
    training_sources = models.JSONField(_("training sources and their provenance"), default=list, blank=True)
    evaluation_metrics = models.JSONField(_("evaluation metrics"), default=dict, blank=True)
    known_limits = models.TextField(_("known limits"), blank=True)
    accountable_person = models.CharField(_("accountable person"), max_length=200, blank=True)
    public = models.BooleanField(_("public"), default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("model card")
        verbose_name_plural = _("model cards")

    def __str__(self) -> str:
        return f"model card of {self.agent_id}"


class ClusterRunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    # a context of its own: "Decided" is also a date label elsewhere
    DECIDED = "decided", pgettext_lazy("run status", "Decided")
    FLAGGED = "flagged", _("Flagged for council review")
    FAILED = "failed", _("Failed")


class Cluster(InstitutionOwned):
    """Agents of one institution arranged in ordered stages for one task type.

    `stages`: [{"name": "intake", "agents": [<agent uid>, ...]}, ...], run in order.
    `flagging_policy`: see apps.agents.clusters.flagging.clean_policy.
    """

    name = models.CharField(_("name"), max_length=200)
    task_type = models.CharField(_("task type"), max_length=80)
    stages = models.JSONField(_("stages"), default=list)
    allowed_decisions = models.JSONField(_("allowed decisions"), default=list)
    combination_rule = models.CharField(_("combination rule"), max_length=40, default="reputation_weighted_vote")
    flagging_policy = models.JSONField(_("flagging policy"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "name"], name="cluster_unique_name_per_institution"),
        ]
        verbose_name = _("agent cluster")
        verbose_name_plural = _("agent clusters")

    def __str__(self) -> str:
        return self.name


class ClusterRun(GuardedStatus, InstitutionOwned):
    """One task put to a cluster: its stages' proposals, and the combined outcome."""

    TRANSITIONS = {
        ClusterRunStatus.QUEUED: {ClusterRunStatus.RUNNING, ClusterRunStatus.FAILED},
        ClusterRunStatus.RUNNING: {ClusterRunStatus.DECIDED, ClusterRunStatus.FLAGGED, ClusterRunStatus.FAILED},
    }
    transition_error = _("A run that is “%(current)s” cannot become “%(new)s”.")

    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="runs")
    task_type = models.CharField(_("task type"), max_length=80)
    # the cluster's stages, allowed decisions and flagging policy as they were when the run
    # started: a later change of the cluster does not change a run under way
    cluster_snapshot = models.JSONField(default=dict)
    record = models.JSONField(_("record"), default=dict)
    documents = models.JSONField(_("documents"), default=dict)
    inputs_digest = models.CharField(_("inputs digest"), max_length=64)
    status = models.CharField(
        _("status"), max_length=10, choices=ClusterRunStatus.choices, default=ClusterRunStatus.QUEUED
    )
    progress = models.PositiveIntegerField(_("stages done"), default=0)
    stage_count = models.PositiveIntegerField(default=0)
    decision = models.CharField(_("decision"), max_length=100, blank=True)
    confidence = models.FloatField(_("confidence"), null=True, blank=True)
    flagged = models.BooleanField(_("flagged"), default=False)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    weights = models.JSONField(_("weights used"), default=dict, blank=True)
    # the reputation the weights came from (none: no history yet, weights were uniform)
    reputation_snapshot = models.ForeignKey(
        "ReputationSnapshot", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    error = models.TextField(blank=True)
    # a council's verdict on a flagged (or sampled) run, applied by
    # clusters.services.cluster_run_apply_verdict: {"item", "council", "verdict", "decision", "reasons", "dissent"}
    council_verdict = models.JSONField(_("council verdict"), default=dict, blank=True)
    final_decision = models.CharField(_("final decision"), max_length=100, blank=True)
    sampled_for_audit = models.BooleanField(_("sampled for a council audit"), default=False)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # the person the case is about (an applicant): they read the outcome, the reasons and the
    # public model cards of the agents that decided on it
    concerns = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("person concerned"),
    )
    submitted_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["institution", "status"])]
        verbose_name = _("cluster run")
        verbose_name_plural = _("cluster runs")

    def __str__(self) -> str:
        return f"run {self.pk} of cluster {self.cluster_id}"

    @property
    def finished(self) -> bool:
        return self.status in {ClusterRunStatus.DECIDED, ClusterRunStatus.FLAGGED, ClusterRunStatus.FAILED}

    def on_transition(self, previous: str, status: str) -> None:
        if self.finished:
            self.decided_at = timezone.now()


class AgentProposalRecord(InstitutionOwned):
    """What one agent proposed in one stage of a run, signed by the agent's key, and its validation.

    A refused agent (inactive, out of scope) leaves a record with no proposal and `refused` set."""

    run = models.ForeignKey(ClusterRun, on_delete=models.CASCADE, related_name="proposals")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="+")
    stage_index = models.PositiveIntegerField()
    stage_name = models.CharField(max_length=80)
    proposal = models.JSONField(default=dict, blank=True)
    signature = models.CharField(max_length=200, blank=True)
    key_id = models.CharField(max_length=100, blank=True)
    findings = models.JSONField(default=list, blank=True)
    accepted = models.BooleanField(default=False)
    refused = models.CharField(max_length=40, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["stage_index", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["run", "stage_index", "agent"], name="agentproposal_once_per_stage"),
        ]
        verbose_name = _("agent proposal")
        verbose_name_plural = _("agent proposals")

    def __str__(self) -> str:
        return f"proposal of {self.agent_id} in run {self.run_id}"


# --- reputation ------------------------------------------------------------------------


class ReputationGraph(models.TextChoices):
    # the names apps.agents.reputation uses for its graphs
    VALIDATION = "validation", _("Validation outcomes")
    COUNCIL = "council", _("Agreement with council verdicts")
    PEER = "peer", _("Peer ratings")


class ReputationEvidence(InstitutionOwned):
    """One rating of an agent by another in one interaction graph: the input of EigenTrust.

    Append-only. Cluster runs write validation and peer evidence when they are decided; the
    council writes agreement with its verdicts."""

    rater = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    ratee = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    graph = models.CharField(_("graph"), max_length=20, choices=ReputationGraph.choices)
    positive = models.FloatField(default=0.0)
    negative = models.FloatField(default=0.0)
    run = models.ForeignKey("ClusterRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    source = models.CharField(_("source"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["institution", "id"])]
        verbose_name = _("reputation evidence")
        verbose_name_plural = _("reputation evidence")

    def __str__(self) -> str:
        return f"{self.rater_id} -> {self.ratee_id} ({self.graph})"


class ReputationSnapshot(InstitutionOwned):
    """The institution's agents' EigenTrust scores computed from the evidence up to one point.

    Kept for ever: the history that explains why a score moved. `evidence_upto` is the last
    evidence row included; `pretrusted` the agents certified at the time (their uids)."""

    computed_at = models.DateTimeField(default=timezone.now)
    evidence_upto = models.BigIntegerField(default=0)
    evidence_count = models.PositiveIntegerField(default=0)
    pretrusted = models.JSONField(default=list)
    trigger = models.CharField(max_length=20)
    iterations = models.PositiveIntegerField(default=0)
    converged = models.BooleanField(default=True)

    class Meta:
        ordering = ["-pk"]
        verbose_name = _("reputation snapshot")
        verbose_name_plural = _("reputation snapshots")

    def __str__(self) -> str:
        return f"reputation snapshot {self.pk}"


class AgentReputation(InstitutionOwned):
    """One agent's score in one snapshot (scores of a snapshot sum to 1)."""

    snapshot = models.ForeignKey(ReputationSnapshot, on_delete=models.CASCADE, related_name="scores")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="reputations")
    score = models.FloatField()
    rank = models.PositiveIntegerField()

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "agent"], name="agentreputation_once_per_snapshot"),
        ]
        indexes = [models.Index(fields=["agent", "snapshot"])]
        verbose_name = _("agent reputation")
        verbose_name_plural = _("agent reputations")

    def __str__(self) -> str:
        return f"{self.agent_id}: {self.score:.4f}"


from apps.agents.learning.models import *  # noqa: E402, F403  (learning from verdicts, in its own package)
from apps.agents.negotiation.models import *  # noqa: E402, F403  (the contract net's models, in their own package)

"""Training examples drawn from council verdicts, and the model candidates retrained from them.

A candidate is only ever a candidate: the agent keeps its artefact until an institution
administrator promotes one (a new agent version, a draft again until re-certified).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.tenancy.models import InstitutionOwned
from portal.models import GuardedStatus

__all__ = ["CandidateStatus", "ModelCandidate", "TrainingExample"]

HELD_OUT_SHARE = 0.30
SPLIT_SALT = "civitas-learning-split/1"


def is_held_out(*, agent_uid: str, run_id: int | None, item_id: int) -> bool:
    """Whether an example is kept for evaluation and never trained on.

    Decided by a hash of the agent and the case (the run), so anyone can recompute it, and
    the two verdicts of an appealed case always fall on the same side."""
    key = f"{SPLIT_SALT}:{agent_uid}:{run_id if run_id is not None else f'item-{item_id}'}"
    value = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return value / 2**64 < HELD_OUT_SHARE


class TrainingExample(InstitutionOwned):
    """One council verdict on a case a statistical agent decided on: the fields its model reads, and the label."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="training_examples")
    features = models.JSONField(_("features"), default=dict)
    label = models.CharField(_("council's decision"), max_length=100)
    # the source: the review item whose verdict labels the case, and the run it judged
    source_item = models.PositiveBigIntegerField(_("review item"))
    run = models.ForeignKey("agents.ClusterRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    held_out = models.BooleanField(_("held out for evaluation"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "source_item"], name="trainingexample_once_per_item"),
        ]
        verbose_name = _("training example")
        verbose_name_plural = _("training examples")

    def __str__(self) -> str:
        return f"example of {self.agent_id} from item {self.source_item}"


class CandidateStatus(models.TextChoices):
    TRAINING = "training", pgettext_lazy("model candidate status", "Training")
    CANDIDATE = "candidate", pgettext_lazy("model candidate status", "Awaiting a decision")
    PROMOTED = "promoted", pgettext_lazy("model candidate status", "Promoted")
    REJECTED = "rejected", pgettext_lazy("model candidate status", "Rejected")
    FAILED = "failed", pgettext_lazy("model candidate status", "Training failed")


class ModelCandidate(GuardedStatus, InstitutionOwned):
    """A model retrained on the shipped data and the council's examples, evaluated against the
    agent's current model on held-out verdicts; used only once an administrator promotes it."""

    TRANSITIONS = {
        CandidateStatus.TRAINING: {CandidateStatus.CANDIDATE, CandidateStatus.FAILED},
        CandidateStatus.CANDIDATE: {CandidateStatus.PROMOTED, CandidateStatus.REJECTED},
    }
    transition_error = _("A model candidate that is “%(current)s” cannot become “%(new)s”.")

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="model_candidates")
    number = models.PositiveIntegerField(_("candidate"))
    version_label = models.CharField(_("model version"), max_length=120)
    status = models.CharField(
        _("status"), max_length=10, choices=CandidateStatus.choices, default=CandidateStatus.TRAINING
    )
    trigger = models.CharField(_("trigger"), max_length=20)  # "manual" or "automatic"
    # the agent's model when the candidate was asked for: what it is compared with and would replace
    base_artefact = models.CharField(max_length=500)
    base_artefact_sha256 = models.CharField(max_length=64)
    base_model_version = models.CharField(max_length=120, blank=True)
    artefact_path = models.CharField(_("artefact"), max_length=500, blank=True)
    artefact_sha256 = models.CharField(_("artefact SHA-256"), max_length=64, blank=True)
    # {"shipped": {name, sha256}, "council_examples": {count, sha256, weight, items, example_ids},
    #  "held_out": {count, example_ids}}
    training_data = models.JSONField(_("training data"), default=dict, blank=True)
    metrics = models.JSONField(_("metrics on the shipped data"), default=dict, blank=True)
    # {"current": {...}, "candidate": {...}, "held_out": n}
    evaluation = models.JSONField(_("evaluation on held-out verdicts"), default=dict, blank=True)
    examples_upto = models.BigIntegerField(default=0)  # the last training example it could see
    error = models.TextField(blank=True)
    note = models.TextField(_("note or reason"), blank=True)
    agent_version = models.PositiveIntegerField(_("agent version it became"), null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "number"], name="modelcandidate_unique_number"),
        ]
        verbose_name = _("model candidate")
        verbose_name_plural = _("model candidates")

    def __str__(self) -> str:
        return f"candidate {self.number} of {self.agent_id}"

    @property
    def finished(self) -> bool:
        return self.status != CandidateStatus.TRAINING

    def on_transition(self, previous: str, status: str) -> None:
        if status in {CandidateStatus.CANDIDATE, CandidateStatus.FAILED}:
            self.finished_at = timezone.now()

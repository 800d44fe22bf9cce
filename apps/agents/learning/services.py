"""Writes of learning from verdicts: training examples, retraining a candidate, promotion and rejection.

Each council verdict on a run labels the case for every statistical agent that took part
(`training_examples_from_verdict`, called from `apps.agents.review.learn`). Retraining
(`model_retrain`, by an administrator or automatically every K new examples) only ever
makes a *candidate*: the shipped dataset of the current model's manifest plus the council's
examples (appended to the training split, each weighing `example_weight` rows), written to
`var/models/<agent uid>-v<N>.joblib` with its manifest, then evaluated beside the current
model on the held-out examples, which no candidate ever trains on. The agent keeps its
model until an administrator promotes a candidate (`model_candidate_promote`), which is a
new agent version: a certified agent becomes a draft and must be certified again.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.agents.engines.base import EngineError
from apps.agents.engines.statistical import (
    REPO_ROOT,
    LoadedModel,
    ModelArtefactError,
    TrainingDataError,
    _matrix,
    _record_value,
    load_model,
    sha256_file,
    statistical_engine,
    train_model,
)
from apps.agents.learning.models import CandidateStatus, ModelCandidate, TrainingExample, is_held_out
from apps.agents.models import Agent, AgentProposalRecord, AgentStatus, ClusterRun, EngineName, ModelCard
from apps.audit.services import audit_append
from apps.tenancy.models import Institution, Role
from apps.tenancy.scope import institution_scope
from apps.tenancy.selectors import roles_of
from portal.errors import ApplicationError, Conflict, InvalidTransition, PermissionDenied, ValidationFailed

logger = logging.getLogger(__name__)

MODEL_DIR = REPO_ROOT / "var" / "models"
DEFAULT_RETRAIN_EVERY = 20
DEFAULT_EXAMPLE_WEIGHT = 5.0
MAX_NOTE = 2000
# past the training task's hard time limit (tasks.py), a candidate still "training" lost its task
TRAINING_GIVEN_UP_AFTER = dt.timedelta(minutes=15)


class ArtefactMismatch(Conflict):
    code = "model_artefact_mismatch"


# --- helpers ---------------------------------------------------------------------------


def _require_admin(*, actor, institution: Institution, system_allowed: bool) -> None:
    if actor is None and system_allowed:  # the node itself: the automatic retraining
        return
    if (
        actor is None
        or isinstance(actor, str)
        or Role.INSTITUTION_ADMIN not in roles_of(user=actor, institution=institution)
    ):
        raise PermissionDenied(_("Only an institution administrator can retrain, promote or reject models."))


def artefact_file(path: str) -> Path:
    """The .joblib file a config's artefact names (relative paths are the repository's)."""
    resolved = Path(path)
    if not resolved.is_absolute():
        resolved = REPO_ROOT / resolved
    return resolved.with_suffix(".joblib")


def _stored_path(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _load(path: str) -> LoadedModel:
    """Raises: ModelArtefactError (the engine's own checks: allowed directory, manifest, hash, version)."""
    return load_model(path, allowed_roots=statistical_engine.allowed_roots)


def model_decisions(agent: Agent, manifest: dict) -> tuple[str, str]:
    """The agent's two decisions, as its engine names them (the config may rename the manifest's)."""
    config = agent.config or {}
    return (
        str(config.get("positive_decision") or manifest["positive_decision"]),
        str(config.get("negative_decision") or manifest["negative_decision"]),
    )


def retrain_every(agent: Agent) -> int:
    """K: a candidate is trained automatically after this many new examples (0: never)."""
    value = (agent.config or {}).get("retrain_every", DEFAULT_RETRAIN_EVERY)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else DEFAULT_RETRAIN_EVERY


def example_weight(agent: Agent) -> float:
    value = (agent.config or {}).get("example_weight", DEFAULT_EXAMPLE_WEIGHT)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
        return DEFAULT_EXAMPLE_WEIGHT
    return float(value)


def latest_per_case(examples: Sequence[TrainingExample]) -> list[TrainingExample]:
    """One example per case: an appeal's verdict replaces the earlier verdict on the same run."""
    latest: dict[Any, TrainingExample] = {}
    for example in examples:
        key = example.run_id if example.run_id is not None else f"item-{example.source_item}"
        if key not in latest or example.source_item > latest[key].source_item:
            latest[key] = example
    return sorted(latest.values(), key=lambda e: e.pk)


def rows_digest(rows: Sequence[dict]) -> str:
    import json

    return hashlib.sha256(json.dumps(list(rows), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- examples from verdicts ------------------------------------------------------------


def training_examples_from_verdict(*, run: ClusterRun, item) -> int:
    """Label the case for every statistical agent that proposed on the run, when the council's
    decision is one of its model's two decisions; idempotent per agent and item. Returns how
    many examples were written. May queue an automatic retraining (a candidate only)."""
    decision = item.verdict_decision
    if not decision:
        return 0
    # tenancy: the run's own records, read from the learning task in the run's scope
    records = AgentProposalRecord.all_institutions.filter(run=run, refused="").select_related("agent")
    agents = {
        r.agent_id: r.agent
        for r in records
        if r.agent.engine == EngineName.STATISTICAL and (r.proposal or {}).get("decision")
    }
    learnt = []
    # the examples are the case owner's rows, whichever council gave the verdict
    with institution_scope(run.institution):
        for agent in agents.values():
            learnt += _example_from_verdict(agent=agent, run=run, item=item, decision=decision)
        for agent in learnt:
            _retrain_if_due(agent)
    return len(learnt)


def _example_from_verdict(*, agent: Agent, run: ClusterRun, item, decision: str) -> list[Agent]:
    """The agent, in a list, when it learnt from this verdict now; an empty list otherwise."""
    try:
        model = _load(str((agent.config or {}).get("artefact") or ""))
        if decision not in model_decisions(agent, model.manifest):
            return []
        features = {f["name"]: _record_value(run.record, f) for f in model.manifest["features"]}
    except (EngineError, KeyError) as exc:  # no usable model, or the record lacks a field it reads
        logger.warning("No training example for agent %s from item %s: %s", agent.uid, item.pk, exc)
        return []
    with transaction.atomic():
        example, created = TrainingExample.all_institutions.get_or_create(
            agent=agent,
            source_item=item.pk,
            defaults={
                "institution": run.institution,
                "features": features,
                "label": decision,
                "run": run,
                "held_out": is_held_out(agent_uid=str(agent.uid), run_id=run.pk, item_id=item.pk),
            },
        )
        if created:
            audit_append(
                institution=run.institution,
                actor=None,
                action="agents.learning.example",
                target=example,
                changes={
                    "agent": str(agent.uid),
                    "item": item.pk,
                    "run": run.pk,
                    "label": decision,
                    "held_out": example.held_out,
                },
            )
            return [agent]
    return []


def _retrain_if_due(agent: Agent) -> ModelCandidate | None:
    every = retrain_every(agent)
    if not every:
        return None
    # tenancy: the agent's own rows
    last = ModelCandidate.all_institutions.filter(agent=agent).order_by("-number").first()
    if last is not None and last.status == CandidateStatus.TRAINING:
        return None
    new = TrainingExample.all_institutions.filter(agent=agent, pk__gt=last.examples_upto if last else 0).count()
    if new < every:
        return None
    try:
        return model_retrain(agent=agent, actor=None, trigger="automatic")
    except ApplicationError as exc:
        logger.warning("Automatic retraining of agent %s refused: %s", agent.uid, exc.message)
        return None


# --- retraining ------------------------------------------------------------------------


@transaction.atomic
def model_retrain(*, agent: Agent, actor, trigger: str = "manual") -> ModelCandidate:
    """Ask for a candidate model trained on the shipped data and the council's examples; the
    training runs in a Celery task. A candidate already training is returned instead of a second.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition, Conflict, ModelArtefactError."""
    _require_admin(actor=actor, institution=agent.institution, system_allowed=True)
    # tenancy: the caller's own agent, re-read under a lock in its institution
    agent = Agent.all_institutions.select_for_update().get(pk=agent.pk, institution_id=agent.institution_id)
    if agent.engine != EngineName.STATISTICAL:
        raise ValidationFailed(_("Only an agent with a statistical model learns from council verdicts."))
    if agent.status == AgentStatus.RETIRED:
        raise InvalidTransition(_("A retired agent is not retrained."))
    training = ModelCandidate.all_institutions.filter(agent=agent, status=CandidateStatus.TRAINING).first()
    if training is not None:
        if training.created_at < timezone.now() - TRAINING_GIVEN_UP_AFTER:
            # its task was lost (a worker killed past its time limit): train it again; the
            # original cannot still be writing the same files
            _queue_training(training)
        return training
    examples = TrainingExample.all_institutions.filter(agent=agent)
    if not examples.filter(held_out=False).exists():
        raise Conflict(
            _("There is no council verdict to learn from yet: every example so far is held out for evaluation."),
            code="nothing_to_learn",
        )
    base_path = str((agent.config or {}).get("artefact") or "")
    base = _load(base_path)
    number = (ModelCandidate.all_institutions.filter(agent=agent).aggregate(n=Max("number"))["n"] or 0) + 1
    candidate = ModelCandidate.all_institutions.create(
        institution=agent.institution,
        agent=agent,
        number=number,
        version_label=f"{agent.uid}-v{number}",
        trigger=trigger,
        base_artefact=base_path,
        base_artefact_sha256=base.manifest["artefact_sha256"],
        base_model_version=str(base.manifest.get("model_version", "")),
        examples_upto=examples.aggregate(upto=Max("pk"))["upto"] or 0,
        requested_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_append(
        institution=agent.institution,
        actor=actor,
        action="agents.learning.retrain",
        target=candidate,
        changes={
            "agent": str(agent.uid),
            "candidate": number,
            "trigger": trigger,
            "base_model_version": candidate.base_model_version,
            "base_artefact_sha256": candidate.base_artefact_sha256,
            "examples_upto": candidate.examples_upto,
        },
    )
    _queue_training(candidate)
    return candidate


def _queue_training(candidate: ModelCandidate) -> None:
    from apps.agents.learning import tasks

    candidate_id, institution_id = candidate.pk, candidate.institution_id
    transaction.on_commit(
        lambda: tasks.model_candidate_train_task.delay(candidate_id=candidate_id, institution_id=institution_id)
    )


def _shipped_dataset(base_file: Path, manifest: dict) -> Path:
    """The CSV the current model was trained on, found beside it or among the fixtures, with the
    SHA-256 its manifest records. Raises: TrainingDataError."""
    name = str(manifest.get("training_data") or "")
    expected = manifest.get("training_data_sha256")
    if not name or Path(name).name != name:
        raise TrainingDataError("The current model's manifest names no training data file.")
    for directory in (base_file.parent, base_file.parent.parent, REPO_ROOT / "fixtures" / "agents"):
        path = directory / name
        if path.is_file() and sha256_file(path) == expected:
            return path
    raise TrainingDataError(
        f"The data the current model was trained on ({name}, sha256 {expected}) cannot be found unchanged."
    )


def _evaluate(model: LoadedModel, examples: Sequence[TrainingExample], agent: Agent) -> dict:
    """How often the model's decision is the council's on these examples, and how well beyond chance."""
    result: dict[str, Any] = {
        "model_version": str(model.manifest.get("model_version", "")),
        "artefact_sha256": model.manifest["artefact_sha256"],
        "cases": len(examples),
        "agreed": 0,
        "accuracy": None,
        "agreement_kappa": None,
        "brier_score": None,
    }
    if not examples:
        return result
    positive, _negative = model_decisions(agent, model.manifest)
    threshold = float((agent.config or {}).get("threshold", 0.5))
    p = model.pipeline.predict_proba(_matrix([e.features for e in examples], model.manifest["features"]))[:, 1]
    predicted = [bool(value >= threshold) for value in p]
    actual = [e.label == positive for e in examples]
    n = len(examples)
    agreed = sum(a == b for a, b in zip(predicted, actual, strict=True))
    observed = agreed / n
    share_actual, share_predicted = sum(actual) / n, sum(predicted) / n
    chance = share_actual * share_predicted + (1 - share_actual) * (1 - share_predicted)
    result.update(
        agreed=agreed,
        accuracy=round(observed, 4),
        # Cohen's kappa: agreement beyond what two raters with these shares reach by chance
        agreement_kappa=round((observed - chance) / (1 - chance), 4) if chance < 1 else None,
        brier_score=round(sum((pv - float(a)) ** 2 for pv, a in zip(p, actual, strict=True)) / n, 4),
    )
    return result


def model_candidate_train(*, candidate_id: int) -> ModelCandidate:
    """Train and evaluate a requested candidate (the Celery task's body); a finished one is left as it is."""
    with transaction.atomic():
        candidate = ModelCandidate.all_institutions.select_for_update().select_related("agent").get(pk=candidate_id)
        if candidate.status != CandidateStatus.TRAINING:
            return candidate
    agent = candidate.agent
    try:
        outcome = _train_and_evaluate(candidate=candidate, agent=agent)
    except (ApplicationError, OSError, ValueError, KeyError) as exc:
        message = exc.message if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
        with transaction.atomic():
            candidate = ModelCandidate.all_institutions.select_for_update().get(pk=candidate_id)
            if candidate.status != CandidateStatus.TRAINING:
                return candidate
            candidate.transition_to(CandidateStatus.FAILED)
            candidate.error = message[:2000]
            candidate.save(update_fields=["status", "error", "finished_at"])
            audit_append(
                institution=candidate.institution,
                actor=None,
                action="agents.learning.train_failed",
                target=candidate,
                changes={"agent": str(agent.uid), "candidate": candidate.number, "error": candidate.error},
            )
        return candidate
    with transaction.atomic():
        candidate = ModelCandidate.all_institutions.select_for_update().get(pk=candidate_id)
        if candidate.status != CandidateStatus.TRAINING:
            return candidate
        for field, value in outcome.items():
            setattr(candidate, field, value)
        candidate.transition_to(CandidateStatus.CANDIDATE)
        candidate.save()
        evaluation = candidate.evaluation
        audit_append(
            institution=candidate.institution,
            actor=None,
            action="agents.learning.candidate",
            target=candidate,
            changes={
                "agent": str(agent.uid),
                "candidate": candidate.number,
                "artefact": candidate.artefact_path,
                "artefact_sha256": candidate.artefact_sha256,
                "training_data": {
                    "shipped": candidate.training_data["shipped"],
                    "council_examples": candidate.training_data["council_examples"]["count"],
                    "council_examples_sha256": candidate.training_data["council_examples"]["sha256"],
                },
                "held_out": evaluation["held_out"],
                "accuracy": {
                    "current": evaluation["current"]["accuracy"],
                    "candidate": evaluation["candidate"]["accuracy"],
                },
            },
        )
    return candidate


def _train_and_evaluate(*, candidate: ModelCandidate, agent: Agent) -> dict:
    base = _load(candidate.base_artefact)
    if base.manifest["artefact_sha256"] != candidate.base_artefact_sha256:
        raise ModelArtefactError("The current model changed after this candidate was asked for; retrain.")
    manifest = base.manifest
    dataset = _shipped_dataset(artefact_file(candidate.base_artefact), manifest)
    with dataset.open(newline="", encoding="utf-8") as handle:
        columns = next(csv.reader(handle))
    features = [f["name"] for f in manifest["features"]]
    # tenancy: the agent's own examples, up to the last one the request saw
    examples = latest_per_case(
        list(TrainingExample.all_institutions.filter(agent=agent, pk__lte=candidate.examples_upto).order_by("pk"))
    )
    usable = [e for e in examples if all(name in e.features for name in features)]
    trained_on = [e for e in usable if not e.held_out]
    held_out = [e for e in usable if e.held_out]
    positive, _negative = model_decisions(agent, manifest)
    label = manifest["label"]
    rows = [
        {
            **{name: e.features[name] for name in features},
            label: manifest["positive_decision"] if e.label == positive else manifest["negative_decision"],
        }
        for e in trained_on
    ]
    if not rows:
        raise TrainingDataError("No council example to train on.")
    items = sorted(e.source_item for e in trained_on)
    weight = example_weight(agent)
    out = MODEL_DIR / candidate.version_label
    new_manifest = train_model(
        dataset=dataset,
        out=out,
        model_version=candidate.version_label,
        label=label,
        positive=manifest["positive_decision"],
        exclude=[c for c in columns if c not in features and c != label],
        seed=int(manifest.get("seed", 0)),
        extra_rows=rows,
        extra_weight=weight,
        extra_source=f"council verdicts, review items {items[0]}..{items[-1]}",
    )
    if [f["name"] for f in new_manifest["features"]] != features:
        raise TrainingDataError("The retrained model reads other fields than the current one.")
    artefact = out.with_suffix(".joblib")
    trained = _load(str(artefact))  # the engine's own checks, as a run would load it
    return {
        "artefact_path": _stored_path(artefact),
        "artefact_sha256": new_manifest["artefact_sha256"],
        "metrics": new_manifest["metrics"],
        "training_data": {
            "shipped": {"name": manifest["training_data"], "sha256": manifest["training_data_sha256"]},
            "council_examples": {
                "count": len(rows),
                "sha256": new_manifest["extra_rows"]["sha256"],
                "weight": weight,
                "items": [items[0], items[-1]],
                "example_ids": [e.pk for e in trained_on],
            },
            "held_out": {"count": len(held_out), "example_ids": [e.pk for e in held_out]},
        },
        "evaluation": {
            "current": _evaluate(base, held_out, agent),
            "candidate": _evaluate(trained, held_out, agent),
            "held_out": len(held_out),
        },
    }


# --- the administrator's decision ------------------------------------------------------


def _clean_note(value: Any, *, field: str, required: bool) -> str:
    note = str(value or "").strip()
    if required and not note:
        raise ValidationFailed(errors={field: [_("Give the reason; it is recorded in the audit log.")]})
    if len(note) > MAX_NOTE:
        raise ValidationFailed(errors={field: [_("At most %(n)s characters.") % {"n": MAX_NOTE}]})
    return note


def _lock_candidate(candidate: ModelCandidate) -> ModelCandidate:
    # tenancy: the caller's own candidate, re-read under a lock in its institution
    return (
        ModelCandidate.all_institutions.select_for_update()
        .select_related("agent")
        .get(pk=candidate.pk, institution_id=candidate.institution_id)
    )


def _card_metrics(candidate: ModelCandidate) -> dict:
    shipped = candidate.metrics or {}
    evaluation = candidate.evaluation
    council = {
        key: evaluation["candidate"][key] for key in ("cases", "agreed", "accuracy", "agreement_kappa", "brier_score")
    }
    return {
        "model_version": candidate.version_label,
        "artefact_sha256": candidate.artefact_sha256,
        "held_out_shipped_data": {
            "rows": shipped.get("held_out_rows"),
            "accuracy": shipped.get("accuracy"),
            "roc_auc": shipped.get("roc_auc"),
            "brier_score": (shipped.get("calibration") or {}).get("brier_score"),
            "expected_calibration_error": (shipped.get("calibration") or {}).get("expected_calibration_error"),
        },
        "held_out_council_verdicts": council,
        "previous_model": {
            "model_version": evaluation["current"]["model_version"],
            "held_out_council_verdicts": {
                key: evaluation["current"][key] for key in ("cases", "agreed", "accuracy", "agreement_kappa")
            },
        },
    }


@transaction.atomic
def model_candidate_promote(*, candidate: ModelCandidate, actor, note: str = "") -> ModelCandidate:
    """Put a candidate to work: the agent's configuration names its artefact (a new version; a
    certified agent becomes a draft until certified again) and the model card its metrics and
    provenance. Only a person promotes, never the machine.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition, Conflict (the agent's model
    changed since, or the artefact no longer matches its hash)."""
    from apps.agents import services as agent_services

    _require_admin(actor=actor, institution=candidate.institution, system_allowed=False)
    note = _clean_note(note, field="note", required=False)
    candidate = _lock_candidate(candidate)
    if candidate.status != CandidateStatus.CANDIDATE:
        candidate.transition_to(CandidateStatus.PROMOTED)  # raises InvalidTransition with the status in words
    # tenancy: the candidate's own agent
    agent = Agent.all_institutions.select_for_update().get(
        pk=candidate.agent_id, institution_id=candidate.institution_id
    )
    current = str((agent.config or {}).get("artefact") or "")
    current_file = artefact_file(current) if current else None
    if (
        agent.engine != EngineName.STATISTICAL
        or current != candidate.base_artefact
        or current_file is None
        or not current_file.is_file()
        or sha256_file(current_file) != candidate.base_artefact_sha256
    ):
        raise Conflict(
            _("The agent's model changed since this candidate was trained; retrain to compare with the model in use."),
            code="model_changed",
        )
    path = artefact_file(candidate.artefact_path)
    if not path.is_file() or sha256_file(path) != candidate.artefact_sha256:
        raise ArtefactMismatch(
            _(
                "The candidate's artefact no longer matches the SHA-256 recorded when it was trained: it was "
                "changed or removed. It cannot be promoted; retrain."
            )
        )
    try:
        _load(candidate.artefact_path)
    except ModelArtefactError as exc:
        raise ArtefactMismatch(exc.message) from exc
    agent = agent_services.agent_update(
        agent=agent,
        actor=actor,
        name=agent.name,
        purpose=agent.purpose,
        capabilities=agent.capabilities,
        autonomy_level=agent.autonomy_level,
        engine=agent.engine,
        config={**agent.config, "artefact": candidate.artefact_path},
    )
    # tenancy: the agent's own card
    card = ModelCard.all_institutions.get(agent=agent, institution_id=agent.institution_id)
    council = candidate.training_data["council_examples"]
    source = {
        "name": _("Council verdicts on this institution's cases"),
        "provenance": _(
            "%(count)s verdicts from review items %(first)s to %(last)s (each weighing %(weight)s rows; "
            "%(held)s more held out for evaluation), added to %(shipped)s; model %(version)s, sha256 %(sha)s."
        )
        % {
            "count": council["count"],
            "first": council["items"][0],
            "last": council["items"][1],
            "weight": council["weight"],
            "held": candidate.training_data["held_out"]["count"],
            "shipped": candidate.training_data["shipped"]["name"],
            "version": candidate.version_label,
            "sha": candidate.artefact_sha256[:12],
        },
    }
    replaced = [
        c.training_data.get("card_source")
        for c in ModelCandidate.all_institutions.filter(agent=agent, status=CandidateStatus.PROMOTED)
    ]
    sources = [s for s in card.training_sources if s not in replaced] + [source]
    agent_services.model_card_update(
        agent=agent,
        actor=actor,
        purpose=card.purpose,
        training_sources=sources,
        evaluation_metrics=_card_metrics(candidate),
        known_limits=card.known_limits,
        accountable_person=card.accountable_person,
        public=card.public,
    )
    candidate.transition_to(CandidateStatus.PROMOTED)
    candidate.training_data = {**candidate.training_data, "card_source": source}
    candidate.note = note
    candidate.decided_by = actor
    candidate.decided_at = timezone.now()
    candidate.agent_version = agent.version
    candidate.save(update_fields=["status", "training_data", "note", "decided_by", "decided_at", "agent_version"])
    audit_append(
        institution=candidate.institution,
        actor=actor,
        action="agents.learning.promote",
        target=candidate,
        changes={
            "agent": str(agent.uid),
            "candidate": candidate.number,
            "artefact": candidate.artefact_path,
            "artefact_sha256": candidate.artefact_sha256,
            "agent_version": agent.version,
            "agent_status": agent.status,
            "note": note,
        },
    )
    return candidate


@transaction.atomic
def model_candidate_reject(*, candidate: ModelCandidate, actor, reason: str) -> ModelCandidate:
    """Turn a candidate down, with the reason; its files stay for the record.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    _require_admin(actor=actor, institution=candidate.institution, system_allowed=False)
    reason = _clean_note(reason, field="reason", required=True)
    candidate = _lock_candidate(candidate)
    candidate.transition_to(CandidateStatus.REJECTED)
    candidate.note = reason
    candidate.decided_by = actor
    candidate.decided_at = timezone.now()
    candidate.save(update_fields=["status", "note", "decided_by", "decided_at"])
    audit_append(
        institution=candidate.institution,
        actor=actor,
        action="agents.learning.reject",
        target=candidate,
        changes={"agent": str(candidate.agent.uid), "candidate": candidate.number, "reason": reason},
    )
    return candidate

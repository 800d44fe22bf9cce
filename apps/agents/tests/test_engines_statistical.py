"""Statistical engine: training, the manifest, refusing tampered artefacts, proposals citing the fields used."""

import csv
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
import sklearn
from django.core.management import call_command

from apps.agents.engines import EngineError
from apps.agents.engines.statistical import (
    DEFAULT_MODEL_ROOTS,
    REPO_ROOT,
    ModelArtefactError,
    StatisticalEngine,
    TrainingDataError,
    load_model,
    train_model,
)
from apps.agents.management.commands.agents_train import Command as TrainCommand
from apps.agents.proposals import Evidence, Task
from apps.agents.validation import validate

FIXTURES = REPO_ROOT / "fixtures" / "agents"
SHIPPED = FIXTURES / "models" / "permit-v1.joblib"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_decisions", FIXTURES / "generate_decisions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def small_dataset(tmp_path):
    generator = _generator()
    path = tmp_path / "decisions.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=generator.FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(generator.generate(400, seed=7))
    return path


@pytest.fixture
def trained(tmp_path, small_dataset):
    manifest = train_model(dataset=small_dataset, out=tmp_path / "models" / "tiny-v1")
    return tmp_path / "models" / "tiny-v1.joblib", manifest


def permit(**changes):
    record = {
        "crowd_size": 80,
        "duration_hours": 3.0,
        "zone": "commercial",
        "prior_violations": 0,
        "fee_paid": True,
        "amplified_sound": False,
    }
    record.update(changes)
    return Task("event_permit", record, {}, institution_id=1)


def test_generator_is_seeded_and_follows_its_documented_rule():
    generator = _generator()
    assert generator.generate(50, seed=3) == generator.generate(50, seed=3)
    assert generator.generate(50, seed=3) != generator.generate(50, seed=4)
    rows = generator.generate(2000, seed=1)
    agree = sum((generator.score(r) > 0) == (r["decision"] == "approve") for r in rows)
    assert agree / len(rows) > 0.75  # the rule shows through the noise and the flips


def test_manifest_records_hashes_features_metrics_and_versions(trained, small_dataset):
    artefact, manifest = trained
    on_disk = json.loads(artefact.with_suffix(".json").read_text())
    assert on_disk == manifest
    assert manifest["artefact_sha256"] == hashlib.sha256(artefact.read_bytes()).hexdigest()
    assert manifest["training_data_sha256"] == hashlib.sha256(small_dataset.read_bytes()).hexdigest()
    assert [f["name"] for f in manifest["features"]] == [
        "crowd_size",
        "duration_hours",
        "zone",
        "prior_violations",
        "fee_paid",
        "amplified_sound",
    ]
    assert {f["name"]: f["type"] for f in manifest["features"]}["zone"] == "categorical"
    metrics = manifest["metrics"]
    assert metrics["held_out_rows"] == 100
    assert 0.6 < metrics["accuracy"] <= 1 and 0.6 < metrics["roc_auc"] <= 1
    assert 0 <= metrics["calibration"]["expected_calibration_error"] < 0.5
    assert manifest["sklearn_version"] == sklearn.__version__
    assert manifest["created_at"].endswith("+00:00")


def test_proposal_cites_the_fields_used_and_the_model_version(trained):
    artefact, manifest = trained
    engine = StatisticalEngine(allowed_roots=[artefact.parent])
    t = permit()
    proposal = engine.propose(t, {"artefact": str(artefact)})
    assert proposal.decision == "approve"
    assert 0.5 <= proposal.confidence <= 1
    assert manifest["artefact_sha256"][:12] in proposal.engine_version
    assert "tiny-v1" in proposal.claims[0].statement
    assert proposal.claims[0].evidence[:3] == [
        Evidence("field", "crowd_size", 80),
        Evidence("field", "duration_hours", 3.0),
        Evidence("field", "zone", "commercial"),
    ]
    assert validate(proposal, t).accepted


def test_a_risky_application_is_denied_with_the_probability_as_confidence(trained):
    artefact, _ = trained
    engine = StatisticalEngine(allowed_roots=[artefact.parent])
    risky = permit(crowd_size=4000, duration_hours=12.0, zone="historic_centre", prior_violations=4, fee_paid=False)
    proposal = engine.propose(risky, {"artefact": str(artefact)})
    assert proposal.decision == "deny"
    assert proposal.confidence > 0.9


def test_tampered_artefact_is_refused(trained):
    artefact, _ = trained
    artefact.write_bytes(artefact.read_bytes() + b"\0")
    with pytest.raises(ModelArtefactError, match="does not match its manifest"):
        load_model(artefact, allowed_roots=[artefact.parent])


def test_manifest_must_exist_and_match_the_sklearn_version(trained):
    artefact, manifest = trained
    manifest_path = artefact.with_suffix(".json")
    manifest_path.write_text(json.dumps({**manifest, "sklearn_version": "0.1"}))
    with pytest.raises(ModelArtefactError, match="retrain"):
        load_model(artefact, allowed_roots=[artefact.parent])
    manifest_path.unlink()
    with pytest.raises(ModelArtefactError, match="has no manifest"):
        load_model(artefact, allowed_roots=[artefact.parent])


def test_artefacts_outside_the_model_directories_are_not_loaded(trained):
    artefact, _ = trained
    with pytest.raises(ModelArtefactError, match="outside the directories"):
        load_model(artefact)  # the default roots: fixtures/agents/models and var/models


def test_record_lacking_a_feature_is_an_engine_error(trained):
    artefact, _ = trained
    t = Task("event_permit", {"crowd_size": 10}, {}, 1)
    with pytest.raises(EngineError, match="no 'duration_hours' field"):
        StatisticalEngine(allowed_roots=[artefact.parent]).propose(t, {"artefact": str(artefact)})
    with pytest.raises(EngineError, match="must be a numeric value"):
        StatisticalEngine(allowed_roots=[artefact.parent]).propose(
            permit(crowd_size="lots"), {"artefact": str(artefact)}
        )


def test_training_refuses_unusable_data(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("application_id,crowd_size,decision\nA,1,approve\nB,2,approve\n")
    with pytest.raises(TrainingDataError, match="exactly two decisions"):
        train_model(dataset=bad, out=tmp_path / "m")
    bad.write_text("application_id,crowd_size,outcome\nA,1,approve\n")
    with pytest.raises(TrainingDataError, match="no 'decision' column"):
        train_model(dataset=bad, out=tmp_path / "m")


def test_management_command_trains_an_artefact(tmp_path, small_dataset, capsys):
    out = tmp_path / "var" / "permit-test"
    call_command(TrainCommand(), dataset=str(small_dataset), out=str(out), model_version="permit-test")
    printed = capsys.readouterr().out
    assert "Trained permit-test" in printed and "ROC AUC" in printed
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["model_version"] == "permit-test"
    assert load_model(out, allowed_roots=[tmp_path]).manifest == manifest


def test_shipped_demo_artefact_loads_and_matches_its_training_data():
    model = load_model(SHIPPED)
    assert SHIPPED.parent in [Path(r) for r in DEFAULT_MODEL_ROOTS]
    assert (
        model.manifest["training_data_sha256"]
        == hashlib.sha256((FIXTURES / model.manifest["training_data"]).read_bytes()).hexdigest()
    )
    assert SHIPPED.stat().st_size < 50_000
    proposal = StatisticalEngine().propose(permit(), {"artefact": "fixtures/agents/models/permit-v1.joblib"})
    assert proposal.decision == "approve"

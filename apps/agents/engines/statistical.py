"""Statistical engine: a small scikit-learn model trained on past decisions.

`train_model` fits a Pipeline (one-hot for categories, standard scaling for numbers,
logistic regression) on a CSV of historical decisions and writes two files side by side:
`<name>.joblib` (the pipeline) and `<name>.json` (the manifest: artefact and training-data
SHA-256, features, held-out metrics, sklearn version, creation time). `load_model`
refuses an artefact whose bytes do not hash to the manifest's value before unpickling it:
a joblib file is code, so the engine also only loads from its allowed directories.

Config: {"artefact": "fixtures/agents/models/permit-v1.joblib", "threshold": 0.5}
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from apps.agents.engines.base import EngineError, register_engine
from apps.agents.proposals import Claim, Evidence, Proposal, Task

MANIFEST_FORMAT = "civitas-agent-model/1"
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MODEL_ROOTS = (REPO_ROOT / "fixtures" / "agents" / "models", REPO_ROOT / "var" / "models")
CALIBRATION_BINS = 10


class ModelArtefactError(EngineError):
    code = "model_artefact_invalid"
    title = "The model artefact cannot be used."


class TrainingDataError(ModelArtefactError):
    code = "training_data_invalid"
    title = "The training data cannot be used."


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- training -------------------------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_dataset(data: bytes, label: str, exclude: Iterable[str]) -> tuple[list[dict], list[dict]]:
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TrainingDataError(f"The dataset is not a readable UTF-8 CSV file: {exc}") from exc
    if not rows:
        raise TrainingDataError("The dataset has no rows.")
    columns = list(rows[0].keys())
    if label not in columns:
        raise TrainingDataError(f"The dataset has no {label!r} column to learn from.")
    skipped = set(exclude) | {label}
    features = []
    for name in columns:
        if name in skipped:
            continue
        values = [row[name] for row in rows]
        if all(_is_number(v) for v in values):
            kind = "boolean" if set(values) <= {"0", "1"} else "numeric"
        else:
            kind = "categorical"
        features.append({"name": name, "type": kind})
    if not features:
        raise TrainingDataError("The dataset has no feature columns.")
    return rows, features


def _matrix(rows: Sequence[Mapping[str, Any]], features: Sequence[dict]) -> np.ndarray:
    columns = []
    for feature in features:
        values = [row[feature["name"]] for row in rows]
        if feature["type"] == "categorical":
            columns.append(np.array([str(v) for v in values], dtype=object))
        else:
            columns.append(np.array([float(v) for v in values], dtype=object))
    return np.column_stack(columns)


def _pipeline(features: Sequence[dict], seed: int) -> Pipeline:
    categorical = [i for i, f in enumerate(features) if f["type"] == "categorical"]
    numeric = [i for i, f in enumerate(features) if f["type"] != "categorical"]
    transformers = []
    if numeric:
        transformers.append(("numbers", StandardScaler(), numeric))
    if categorical:
        transformers.append(("categories", OneHotEncoder(handle_unknown="ignore"), categorical))
    return Pipeline(
        [
            ("features", ColumnTransformer(transformers)),
            ("classifier", LogisticRegression(max_iter=1000, random_state=seed)),
        ]
    )


def _calibration(y_true: np.ndarray, p: np.ndarray) -> dict:
    """Expected calibration error and the reliability table over equal-width bins."""
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    bins, ece = [], 0.0
    for low, high in itertools.pairwise(edges):
        mask = (p >= low) & ((p < high) if high < 1.0 else (p <= high))
        count = int(mask.sum())
        if not count:
            continue
        predicted, observed = float(p[mask].mean()), float(y_true[mask].mean())
        ece += count / len(p) * abs(predicted - observed)
        bins.append(
            {
                "from": round(float(low), 2),
                "to": round(float(high), 2),
                "count": count,
                "mean_predicted": round(predicted, 4),
                "observed_rate": round(observed, 4),
            }
        )
    return {
        "brier_score": round(float(brier_score_loss(y_true, p)), 4),
        "expected_calibration_error": round(ece, 4),
        "bins": bins,
    }


def train_model(
    *,
    dataset: Path,
    out: Path,
    model_version: str | None = None,
    label: str = "decision",
    positive: str | None = None,
    exclude: Iterable[str] = ("application_id",),
    seed: int = 0,
    test_size: float = 0.25,
    extra_rows: Sequence[Mapping[str, Any]] = (),
    extra_weight: float = 1.0,
    extra_source: str = "",
) -> dict:
    """Train on a CSV of past decisions, write `<out>.joblib` and `<out>.json`; return the manifest.

    `extra_rows` (feature values and the label, e.g. council verdicts) are added to the
    training split only, each weighing `extra_weight` rows; the held-out metrics stay those
    of the CSV's own split, and the manifest records the extra rows' count, weight and hash.

    Raises: TrainingDataError."""
    dataset, out = Path(dataset), Path(out)
    data = dataset.read_bytes()
    rows, features = _read_dataset(data, label, exclude)
    labels = sorted({row[label] for row in rows})
    if len(labels) != 2:
        raise TrainingDataError(f"The {label!r} column must hold exactly two decisions, not {labels}.")
    positive = positive or ("approve" if "approve" in labels else labels[1])
    if positive not in labels:
        raise TrainingDataError(f"{positive!r} is not one of the decisions in the dataset ({', '.join(labels)}).")
    negative = next(lbl for lbl in labels if lbl != positive)

    x = _matrix(rows, features)
    y = np.array([int(row[label] == positive) for row in rows])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    fit_params = {}
    if extra_rows:
        names = [f["name"] for f in features]
        for row in extra_rows:
            if any(name not in row for name in names) or row.get(label) not in labels:
                raise TrainingDataError(f"An extra row lacks one of the features {names} or a decision in {labels}.")
        weight = float(extra_weight)
        if not 0 < weight <= 1000:
            raise TrainingDataError("The weight of the extra rows must be above 0 and at most 1000.")
        fit_params["classifier__sample_weight"] = np.concatenate(
            [np.ones(len(y_train)), np.full(len(extra_rows), weight)]
        )
        x_train = np.vstack([x_train, _matrix(extra_rows, features)])
        y_train = np.concatenate([y_train, [int(row[label] == positive) for row in extra_rows]])
    pipeline = _pipeline(features, seed).fit(x_train, y_train, **fit_params)
    p_test = pipeline.predict_proba(x_test)[:, 1]
    metrics = {
        "held_out_rows": len(y_test),
        "training_rows": len(y_train),
        "accuracy": round(float(accuracy_score(y_test, p_test >= 0.5)), 4),
        "roc_auc": round(float(roc_auc_score(y_test, p_test)), 4),
        "calibration": _calibration(y_test, p_test),
    }

    artefact = out.with_suffix(".joblib")
    artefact.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, artefact, compress=3)
    manifest = {
        "format": MANIFEST_FORMAT,
        "model_version": model_version or artefact.stem,
        "algorithm": "LogisticRegression on StandardScaler + OneHotEncoder",
        "artefact": artefact.name,
        "artefact_sha256": sha256_file(artefact),
        "training_data": dataset.name,
        "training_data_sha256": hashlib.sha256(data).hexdigest(),
        "label": label,
        "positive_decision": positive,
        "negative_decision": negative,
        "features": features,
        "metrics": metrics,
        "sklearn_version": sklearn.__version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
    }
    if extra_rows:
        metrics["extra_rows"] = len(extra_rows)
        manifest["extra_rows"] = {
            "count": len(extra_rows),
            "weight": float(extra_weight),
            "sha256": hashlib.sha256(
                json.dumps(list(extra_rows), sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest(),
            "source": extra_source,
        }
    artefact.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


# --- loading --------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedModel:
    pipeline: Any
    manifest: dict

    @property
    def version(self) -> str:
        return f"{self.manifest['model_version']} (sha256 {self.manifest['artefact_sha256'][:12]})"


_loaded: dict[str, Any] = {}
_loaded_lock = threading.Lock()


def load_model(path: Path | str, *, allowed_roots: Sequence[Path] = DEFAULT_MODEL_ROOTS) -> LoadedModel:
    """Load an artefact after checking it against its manifest.

    Raises: ModelArtefactError (outside the allowed directories, manifest missing or
    unreadable, hash mismatch, other scikit-learn version, not a classifier)."""
    path = Path(path)
    if not path.is_absolute():
        path = REPO_ROOT / path
    artefact = path.with_suffix(".joblib").resolve()
    manifest_path = artefact.with_suffix(".json")
    roots = [Path(r).resolve() for r in allowed_roots]
    if not any(artefact.is_relative_to(root) for root in roots):
        raise ModelArtefactError(f"The model artefact {artefact} is outside the directories models may be loaded from.")
    if not manifest_path.is_file():
        raise ModelArtefactError(f"The model artefact {artefact.name} has no manifest ({manifest_path.name}).")
    if not artefact.is_file():
        raise ModelArtefactError(f"The model artefact {artefact.name} does not exist.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelArtefactError(f"The manifest {manifest_path.name} is not readable JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ModelArtefactError(f"The manifest {manifest_path.name} is not a {MANIFEST_FORMAT} manifest.")
    expected = manifest.get("artefact_sha256")
    actual = sha256_file(artefact)
    if actual != expected:
        raise ModelArtefactError(
            f"The model artefact {artefact.name} does not match its manifest: its SHA-256 is {actual}, "
            f"the manifest says {expected}. It was changed or replaced after training; it will not be loaded."
        )
    if manifest.get("sklearn_version") != sklearn.__version__:
        # Unpickling across scikit-learn versions is unsupported and can silently change
        # predictions: retrain rather than guess.
        raise ModelArtefactError(
            f"The model {artefact.name} was trained with scikit-learn {manifest.get('sklearn_version')}, "
            f"this portal runs {sklearn.__version__}; retrain it with manage.py agents_train."
        )
    with _loaded_lock:
        pipeline = _loaded.get(actual)
        if pipeline is None:
            pipeline = joblib.load(artefact)
            if not hasattr(pipeline, "predict_proba"):
                raise ModelArtefactError(f"The model artefact {artefact.name} is not a probabilistic classifier.")
            _loaded[actual] = pipeline
    return LoadedModel(pipeline=pipeline, manifest=manifest)


# --- the engine -----------------------------------------------------------------------


def _record_value(record: Mapping, feature: dict) -> Any:
    name = feature["name"]
    if name not in record:
        raise EngineError(f"The record has no {name!r} field, which the model needs.")
    value = record[name]
    if feature["type"] == "categorical":
        if not isinstance(value, str):
            raise EngineError(f"The record's {name!r} must be text for the model, not {type(value).__name__}.")
        return value
    if isinstance(value, bool) or (isinstance(value, int | float) and feature["type"] == "numeric"):
        return value
    if feature["type"] == "boolean" and value in (0, 1):
        return value
    raise EngineError(f"The record's {name!r} must be a {feature['type']} value, not {value!r}.")


def _describe(feature: dict, value: Any) -> str:
    label = feature["name"].replace("_", " ")
    if feature["type"] == "boolean":
        return f"{label}: {'yes' if value else 'no'}"
    return f"{label}: {value}"


class StatisticalEngine:
    name = "statistical"
    version = "1"

    def __init__(self, allowed_roots: Sequence[Path] = DEFAULT_MODEL_ROOTS):
        self.allowed_roots = tuple(allowed_roots)

    def propose(self, task: Task, config: Mapping[str, Any]) -> Proposal:
        artefact = config.get("artefact")
        if not artefact:
            raise EngineError("The statistical engine needs an 'artefact' path in its config.")
        model = load_model(artefact, allowed_roots=self.allowed_roots)
        manifest = model.manifest
        features = manifest["features"]
        values = {f["name"]: _record_value(task.record, f) for f in features}
        row = {name: (float(v) if not isinstance(v, str) else v) for name, v in values.items()}
        p_positive = float(model.pipeline.predict_proba(_matrix([row], features))[0, 1])

        threshold = float(config.get("threshold", 0.5))
        positive = str(config.get("positive_decision") or manifest["positive_decision"])
        negative = str(config.get("negative_decision") or manifest["negative_decision"])
        decision, confidence = (positive, p_positive) if p_positive >= threshold else (negative, 1.0 - p_positive)

        training_rows = manifest["metrics"]["training_rows"] + manifest["metrics"]["held_out_rows"]
        evidence = [Evidence("field", name, value) for name, value in values.items()]
        claim = Claim(
            f"Model {model.version} estimates a {p_positive:.1%} chance of '{positive}' "
            f"from the {len(features)} fields it reads.",
            evidence,
        )
        explanation = (
            f"Judging by {training_rows} past decisions, an application with these details "
            f"({'; '.join(_describe(f, values[f['name']]) for f in features)}) "
            f"is likely to be decided '{decision}' (likelihood {confidence:.1%}). "
            f"This is an estimate learned from past decisions, not a rule; a person reviews it."
        )
        return Proposal(
            decision, round(confidence, 4), explanation, [claim], self.name, f"{self.version}; {model.version}"
        )


statistical_engine = register_engine(StatisticalEngine())

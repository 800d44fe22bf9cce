"""Precedent engine: the most similar past decisions of the same institution (TF-IDF, cosine).

Config:
    {"corpus": [{"id": "D-2025-114", "text": "...", "decision": "approve", "institution_id": 1}, ...],
     "query_fields": ["summary", "zone"],   # record fields whose text is compared; default: all text fields
     "k": 5, "min_similarity": 0.1}

The corpus is filtered to the task's institution *before* the vectoriser is fitted, so
another institution's decisions can neither be cited nor shape the vocabulary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import linear_kernel

from apps.agents.engines.base import EngineError, register_engine
from apps.agents.proposals import Claim, Evidence, Proposal, Task

MAX_CORPUS = 50_000


def _field(record: Mapping, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise EngineError(f"The record has no {path!r} field to compare with past decisions.")
        value = value[part]
    return value


def _text_fields(record: Mapping, prefix: str = "") -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.update(_text_fields(value, f"{path}."))
        elif isinstance(value, str) and value.strip():
            found[path] = value
    return found


def institution_corpus(corpus: Any, institution_id: Any) -> list[dict]:
    """The well-formed entries of a corpus that belong to one institution."""
    if not isinstance(corpus, list):
        raise EngineError("The precedent engine needs a 'corpus' list of past decisions in its config.")
    if len(corpus) > MAX_CORPUS:
        raise EngineError(f"The precedent corpus holds more than {MAX_CORPUS} decisions.")
    own = []
    for entry in corpus:
        if not isinstance(entry, Mapping) or not all(entry.get(k) for k in ("id", "text", "decision")):
            continue
        # Compared as text: ids arrive as ints from the ORM and as strings from JSON config.
        if institution_id is None or str(entry.get("institution_id")) != str(institution_id):
            continue
        own.append(entry)
    return own


class PrecedentEngine:
    name = "precedent"
    version = "1"

    def propose(self, task: Task, config: Mapping[str, Any]) -> Proposal:
        if task.institution_id is None:
            raise EngineError("A task without an institution has no precedents.")
        corpus = institution_corpus(config.get("corpus"), task.institution_id)
        if not corpus:
            raise EngineError("This institution has no past decisions to compare with.")

        query_fields = config.get("query_fields")
        # Named fields when the agent's config says which; otherwise every text field.
        used = {path: _field(task.record, path) for path in query_fields} if query_fields else _text_fields(task.record)
        query = " ".join(str(v) for v in used.values() if v is not None)
        if not query.strip():
            raise EngineError("The record has no text to compare with past decisions.")

        k = max(1, min(int(config.get("k", 5)), 20))
        min_similarity = float(config.get("min_similarity", 0.1))
        vectoriser = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
        try:
            matrix = vectoriser.fit_transform([str(e["text"]) for e in corpus])
        except ValueError as exc:  # an empty vocabulary: only stop words
            raise EngineError(f"The past decisions could not be indexed: {exc}") from exc
        scores = linear_kernel(vectoriser.transform([query]), matrix).ravel()
        ranked = sorted(range(len(corpus)), key=lambda i: (-scores[i], str(corpus[i]["id"])))
        nearest = [(corpus[i], float(scores[i])) for i in ranked[:k] if scores[i] >= min_similarity]
        if not nearest:
            raise EngineError("No past decision of this institution is similar enough to this case.")

        weight: dict[str, float] = defaultdict(float)
        for entry, score in nearest:
            weight[str(entry["decision"])] += score
        decision = max(weight, key=lambda d: (weight[d], d))
        confidence = weight[decision] / sum(weight.values())
        supporting = [(e, s) for e, s in nearest if str(e["decision"]) == decision]

        field_evidence = [Evidence("field", path, value) for path, value in used.items()]
        claims = [
            Claim(
                f"Past decision {entry['id']} ('{entry['decision']}') is similar to this case "
                f"(similarity {score:.2f}).",
                [Evidence("precedent", str(entry["id"]), str(entry["decision"])), *field_evidence],
            )
            for entry, score in nearest
        ]
        explanation = (
            f"{len(supporting)} of the {len(nearest)} most similar past cases of this institution were decided "
            f"'{decision}' ({', '.join(str(e['id']) for e, _ in supporting)}). Similar cases are usually "
            f"decided alike, so this case is proposed for '{decision}'."
        )
        return Proposal(decision, round(confidence, 4), explanation, claims, self.name, self.version)


precedent_engine = register_engine(PrecedentEngine())

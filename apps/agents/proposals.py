"""The shapes an engine speaks: a task in, a proposal out, each claim citing its evidence.

Plain dataclasses, no Django model: the cluster, the validator and every engine share them.
`Proposal.from_dict` is strict, because half of the engines (an LLM, a pickled model)
can hand back anything: a wrong shape raises `ProposalShapeError`, never a crash further on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from portal.errors import ApplicationError

EvidenceKind = Literal["field", "document", "rule", "precedent"]
EVIDENCE_KINDS: tuple[str, ...] = ("field", "document", "rule", "precedent")

# Bounds keep a runaway engine from filling the database with one proposal.
MAX_DECISION_LENGTH = 100
MAX_EXPLANATION_LENGTH = 4000
MAX_STATEMENT_LENGTH = 1000
MAX_REF_LENGTH = 300
MAX_CLAIMS = 50
MAX_EVIDENCE_PER_CLAIM = 100
MAX_VALUE_JSON_LENGTH = 2000


class ProposalShapeError(ApplicationError):
    code = "proposal_malformed"
    title = "The engine's proposal does not have the expected shape."


def _require_keys(data: Any, where: str, keys: set[str]) -> dict:
    if not isinstance(data, dict):
        raise ProposalShapeError(f"{where} must be an object, not {type(data).__name__}.")
    missing = sorted(keys - data.keys())
    if missing:
        raise ProposalShapeError(f"{where} lacks {', '.join(missing)}.")
    extra = sorted(str(k) for k in data.keys() - keys)
    if extra:
        raise ProposalShapeError(f"{where} has unexpected members: {', '.join(extra)}.")
    return data


def _require_text(value: Any, where: str, *, max_length: int, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ProposalShapeError(f"{where} must be text, not {type(value).__name__}.")
    if not allow_empty and not value.strip():
        raise ProposalShapeError(f"{where} must not be empty.")
    if len(value) > max_length:
        raise ProposalShapeError(f"{where} is longer than {max_length} characters.")
    return value


def _require_json_value(value: Any, where: str) -> Any:
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ProposalShapeError(f"{where} must be a plain JSON value ({exc}).") from exc
    if len(encoded) > MAX_VALUE_JSON_LENGTH:
        raise ProposalShapeError(f"{where} is larger than {MAX_VALUE_JSON_LENGTH} characters of JSON.")
    return value


@dataclass(frozen=True)
class Task:
    """What an engine is asked to decide.

    `record` is the application's data (nested dicts; evidence cites it by dotted path),
    `documents` maps each document id to the versions the record holds (a list of version
    strings, or one string), `institution_id` is whose decision it is.
    """

    task_type: str
    record: dict
    documents: dict = field(default_factory=dict)
    institution_id: int | str | None = None

    def document_versions(self, document_id: str) -> set[str]:
        versions = self.documents.get(document_id)
        if versions is None:
            return set()
        if isinstance(versions, str | int):
            return {str(versions)}
        if isinstance(versions, dict):
            # {"versions": [...]} or {version: metadata}
            listed = versions.get("versions", list(versions))
            return {str(v) for v in listed}
        return {str(v) for v in versions}


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    ref: str
    value: Any = None

    def __post_init__(self) -> None:
        if self.kind not in EVIDENCE_KINDS:
            raise ProposalShapeError(f"Evidence kind must be one of {', '.join(EVIDENCE_KINDS)}, not {self.kind!r}.")
        _require_text(self.ref, "Evidence ref", max_length=MAX_REF_LENGTH)
        _require_json_value(self.value, f"The value of evidence {self.ref!r}")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "ref": self.ref, "value": self.value}

    @classmethod
    def from_dict(cls, data: Any, where: str = "Evidence") -> Evidence:
        _require_keys(data, where, {"kind", "ref", "value"})
        return cls(kind=data["kind"], ref=data["ref"], value=data["value"])


@dataclass(frozen=True)
class Claim:
    statement: str
    evidence: list[Evidence] = field(default_factory=list)

    def __post_init__(self) -> None:
        _require_text(self.statement, "A claim's statement", max_length=MAX_STATEMENT_LENGTH)
        if not isinstance(self.evidence, list):
            raise ProposalShapeError("A claim's evidence must be a list.")
        if len(self.evidence) > MAX_EVIDENCE_PER_CLAIM:
            raise ProposalShapeError(f"A claim cites more than {MAX_EVIDENCE_PER_CLAIM} pieces of evidence.")
        for item in self.evidence:
            if not isinstance(item, Evidence):
                raise ProposalShapeError("A claim's evidence must be Evidence items.")
        # An empty evidence list is a valid shape: the validator rejects it with a finding
        # that says which claim, which is more useful than a shape error.

    def to_dict(self) -> dict:
        return {"statement": self.statement, "evidence": [e.to_dict() for e in self.evidence]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "Claim") -> Claim:
        _require_keys(data, where, {"statement", "evidence"})
        if not isinstance(data["evidence"], list):
            raise ProposalShapeError(f"{where}: evidence must be a list.")
        if len(data["evidence"]) > MAX_EVIDENCE_PER_CLAIM:
            raise ProposalShapeError(f"{where} cites more than {MAX_EVIDENCE_PER_CLAIM} pieces of evidence.")
        evidence = [Evidence.from_dict(e, f"{where}, evidence {i + 1}") for i, e in enumerate(data["evidence"])]
        return cls(statement=data["statement"], evidence=evidence)


@dataclass(frozen=True)
class Proposal:
    decision: str
    confidence: float
    explanation: str
    claims: list[Claim]
    engine: str
    engine_version: str

    def __post_init__(self) -> None:
        _require_text(self.decision, "The decision", max_length=MAX_DECISION_LENGTH)
        if isinstance(self.confidence, bool) or not isinstance(self.confidence, int | float):
            raise ProposalShapeError(f"The confidence must be a number, not {type(self.confidence).__name__}.")
        if not math.isfinite(self.confidence) or not 0.0 <= self.confidence <= 1.0:
            raise ProposalShapeError(f"The confidence must lie between 0 and 1, not {self.confidence}.")
        _require_text(self.explanation, "The explanation", max_length=MAX_EXPLANATION_LENGTH)
        if not isinstance(self.claims, list):
            raise ProposalShapeError("The claims must be a list.")
        if len(self.claims) > MAX_CLAIMS:
            raise ProposalShapeError(f"A proposal makes more than {MAX_CLAIMS} claims.")
        for claim in self.claims:
            if not isinstance(claim, Claim):
                raise ProposalShapeError("The claims must be Claim items.")
        _require_text(self.engine, "The engine name", max_length=MAX_DECISION_LENGTH)
        _require_text(self.engine_version, "The engine version", max_length=MAX_REF_LENGTH)

    def to_dict(self) -> dict:
        return {
            "decision": self.decision,
            "confidence": self.confidence,
            "explanation": self.explanation,
            "claims": [c.to_dict() for c in self.claims],
            "engine": self.engine,
            "engine_version": self.engine_version,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Proposal:
        """Build a proposal from untrusted data. Raises: ProposalShapeError."""
        _require_keys(
            data, "The proposal", {"decision", "confidence", "explanation", "claims", "engine", "engine_version"}
        )
        if not isinstance(data["claims"], list):
            raise ProposalShapeError("The proposal's claims must be a list.")
        if len(data["claims"]) > MAX_CLAIMS:
            raise ProposalShapeError(f"A proposal makes more than {MAX_CLAIMS} claims.")
        claims = [Claim.from_dict(c, f"Claim {i + 1}") for i, c in enumerate(data["claims"])]
        return cls(
            decision=data["decision"],
            confidence=data["confidence"],
            explanation=data["explanation"],
            claims=claims,
            engine=data["engine"],
            engine_version=data["engine_version"],
        )


def proposal_json_schema() -> dict:
    """The JSON Schema of the part of a proposal an external engine writes (no engine name)."""
    evidence = {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "ref", "value"],
        "properties": {
            "kind": {"type": "string", "enum": list(EVIDENCE_KINDS)},
            "ref": {"type": "string"},
            "value": {"type": ["string", "number", "boolean", "null"]},
        },
    }
    claim = {
        "type": "object",
        "additionalProperties": False,
        "required": ["statement", "evidence"],
        "properties": {"statement": {"type": "string"}, "evidence": {"type": "array", "items": evidence}},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["decision", "confidence", "explanation", "claims"],
        "properties": {
            "decision": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "explanation": {"type": "string"},
            "claims": {"type": "array", "items": claim},
        },
    }

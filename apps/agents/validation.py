"""The validator: every claim of a proposal checked against the record it is about.

A claim whose evidence is not in the task (a field the record lacks, a document version
it does not hold, an unknown rule or precedent) is a hallucination; a claim whose cited
value differs from the record's is a contradiction; a claim citing nothing is
unsupported. Any finding rejects the proposal. Findings are written for the people who
read the council's file, so they say which claim and why in plain words.

    report = validate(proposal, task, rules=config["rules"], precedents=config["corpus"])
    if not report.accepted: ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from apps.agents.proposals import Claim, Evidence, Proposal, Task

FindingKind = Literal["hallucination", "contradiction", "unsupported"]
_MISSING = object()


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    claim_index: int | None  # 0-based; None for a finding about the proposal as a whole
    statement: str
    evidence_ref: str | None
    message: str

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "claim_index": self.claim_index,
            "statement": self.statement,
            "evidence_ref": self.evidence_ref,
            "message": self.message,
        }


@dataclass(frozen=True)
class ValidationReport:
    findings: list[Finding] = field(default_factory=list)
    claims_checked: int = 0
    evidence_checked: int = 0

    @property
    def accepted(self) -> bool:
        return not self.findings

    @property
    def hallucinated(self) -> bool:
        return any(f.kind == "hallucination" for f in self.findings)

    def summary(self) -> str:
        if self.accepted:
            return (
                f"All {self.claims_checked} claims are backed by the record "
                f"({self.evidence_checked} pieces of evidence)."
            )
        return " ".join(f.message for f in self.findings)

    def to_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "claims_checked": self.claims_checked,
            "evidence_checked": self.evidence_checked,
            "findings": [f.to_dict() for f in self.findings],
        }


def record_value(record: Mapping, path: str) -> Any:
    """The value at a dotted path of a record, or _MISSING. List items are addressed by index."""
    value: Any = record
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def same_value(cited: Any, actual: Any) -> bool:
    """Equal as the record means it: 3 == 3.0, but True is not 1 and "3" is not 3."""
    if isinstance(cited, bool) or isinstance(actual, bool):
        return type(cited) is type(actual) and cited == actual
    if isinstance(cited, int | float) and isinstance(actual, int | float):
        return math.isclose(cited, actual, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(cited, list | tuple) and isinstance(actual, list | tuple):
        return len(cited) == len(actual) and all(same_value(c, a) for c, a in zip(cited, actual, strict=True))
    if isinstance(cited, Mapping) and isinstance(actual, Mapping):
        return cited.keys() == actual.keys() and all(same_value(cited[k], actual[k]) for k in cited)
    return cited == actual


def _split_versioned(ref: str) -> tuple[str, str | None]:
    name, sep, version = ref.rpartition("@")
    return (name, version) if sep and name else (ref, None)


class _Checker:
    def __init__(self, task: Task, rules: Iterable[Mapping] | None, precedents: Iterable[Mapping] | None):
        self.task = task
        self.rule_refs = None if rules is None else {f"{r.get('id')}@{r.get('version')}" for r in rules}
        # Only the institution's own decisions count: citing another institution's is as
        # unfounded as citing one that does not exist.
        self.precedents = {
            str(p.get("id")): p
            for p in (precedents or [])
            if isinstance(p, Mapping) and str(p.get("institution_id")) == str(task.institution_id)
        }
        self.precedents_given = precedents is not None

    def evidence(self, evidence: Evidence) -> tuple[FindingKind, str] | None:
        return getattr(self, f"_{evidence.kind}")(evidence)

    def _field(self, e: Evidence) -> tuple[FindingKind, str] | None:
        actual = record_value(self.task.record, e.ref)
        if actual is _MISSING:
            return "hallucination", f"it cites the field '{e.ref}', which the record does not have"
        if not same_value(e.value, actual):
            return "contradiction", f"it says '{e.ref}' is {e.value!r}, but the record says {actual!r}"
        return None

    def _document(self, e: Evidence) -> tuple[FindingKind, str] | None:
        document_id, version = _split_versioned(e.ref)
        versions = self.task.document_versions(document_id)
        if not versions:
            return "hallucination", f"it cites the document '{document_id}', which is not part of this case"
        if version is None:
            return "hallucination", f"it cites the document '{document_id}' without saying which version"
        if version not in versions:
            known = ", ".join(sorted(versions))
            return "hallucination", f"it cites version {version} of '{document_id}', but the case holds only {known}"
        return None

    def _rule(self, e: Evidence) -> tuple[FindingKind, str] | None:
        if self.rule_refs is None:
            # No rule set to check against: the cluster passes it whenever the agent has one.
            return None
        if e.ref not in self.rule_refs:
            return "hallucination", f"it cites the rule '{e.ref}', which is not in the rule set"
        return None

    def _precedent(self, e: Evidence) -> tuple[FindingKind, str] | None:
        if not self.precedents_given:
            return (
                "hallucination",
                f"it cites the past decision '{e.ref}', but no past decisions were given to check it",
            )
        precedent = self.precedents.get(e.ref)
        if precedent is None:
            return "hallucination", f"it cites the past decision '{e.ref}', which is not a decision of this institution"
        if e.value is not None and not same_value(e.value, precedent.get("decision")):
            return (
                "contradiction",
                f"it says past decision '{e.ref}' was {e.value!r}, but it was {precedent.get('decision')!r}",
            )
        return None


def validate(
    proposal: Proposal,
    task: Task,
    *,
    rules: Iterable[Mapping] | None = None,
    precedents: Iterable[Mapping] | None = None,
) -> ValidationReport:
    """Check every claim's evidence against the task; any finding rejects the proposal.

    `rules` is the agent's rule set (rule claims are checked only when it is given);
    `precedents` the corpus of past decisions (precedent claims always need it)."""
    checker = _Checker(task, None if rules is None else list(rules), None if precedents is None else list(precedents))
    findings: list[Finding] = []
    evidence_checked = 0
    if not proposal.claims:
        findings.append(
            Finding("unsupported", None, "", None, "The proposal gives no reasons: it makes no claim to check.")
        )
    for index, claim in enumerate(proposal.claims):
        findings.extend(_check_claim(index, claim, checker))
        evidence_checked += len(claim.evidence)
    return ValidationReport(findings=findings, claims_checked=len(proposal.claims), evidence_checked=evidence_checked)


def _check_claim(index: int, claim: Claim, checker: _Checker) -> list[Finding]:
    label = f'Claim {index + 1} ("{_shorten(claim.statement)}")'
    if not claim.evidence:
        return [Finding("unsupported", index, claim.statement, None, f"{label} cites no evidence at all.")]
    findings = []
    for evidence in claim.evidence:
        problem = checker.evidence(evidence)
        if problem:
            kind, why = problem
            findings.append(Finding(kind, index, claim.statement, evidence.ref, f"{label} is not backed: {why}."))
    return findings


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

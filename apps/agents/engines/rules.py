"""Rules engine: a versioned rule set of policy expressions, evaluated by simpleeval.

Config:
    {"rule_set": "permits", "version": "3",
     "rules": [{"id": "crowd-cap", "version": "2", "expression": "crowd_size > 500 and not fee_paid",
                "decision": "deny", "explanation": "Events over 500 people must pay the fee."}],
     "default_decision": "approve", "default_explanation": "No rule objects to the application."}

Expressions read record fields by name (`crowd_size`), dotted path (`applicant.age`) or
subscript (`applicant["age"]`). No `eval`: simpleeval walks the syntax tree itself, with
no attribute access other than record fields, no underscore names, a handful of pure
functions, and its own limits on powers and string sizes; there are no loops to run forever.
Each fired rule becomes a claim citing the rule (`rule-id@version`) and the fields it read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import simpleeval

from apps.agents.engines.base import EngineError, register_engine
from apps.agents.proposals import Claim, Evidence, Proposal, ProposalShapeError, Task

MAX_EXPRESSION_LENGTH = 1000
MAX_RULES = 200

SAFE_FUNCTIONS = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "len": len,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
}


class _AnyPublicName:
    """`allowed_attrs` for record views: any field name (simpleeval already refuses `_x`)."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and not name.startswith("_")


class _FieldView:
    """A read-only window on a record dict that notes every leaf field read.

    It has no public methods on purpose: `applicant.keys` means the field "keys"."""

    __slots__ = ("_data", "_path", "_reads")

    def __init__(self, data: Mapping, path: str, reads: dict[str, Any]):
        self._data = data
        self._path = path
        self._reads = reads

    def _read(self, name: Any) -> Any:
        if not isinstance(name, str) or name not in self._data:
            where = f"{self._path}.{name}" if self._path else str(name)
            raise simpleeval.NameNotDefined(where, "")
        path = f"{self._path}.{name}" if self._path else name
        value = self._data[name]
        if isinstance(value, Mapping):
            return _FieldView(value, path, self._reads)
        self._reads.setdefault(path, value)
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._read(name)

    def __getitem__(self, name: Any) -> Any:
        return self._read(name)

    def __contains__(self, name: Any) -> bool:
        return name in self._data


def _make_evaluator(record: Mapping, reads: dict[str, Any]) -> simpleeval.SimpleEval:
    root = _FieldView(record, "", reads)

    def names(node: Any) -> Any:
        return root._read(node.id)

    return simpleeval.SimpleEval(
        functions=dict(SAFE_FUNCTIONS),
        names=names,
        allowed_attrs={_FieldView: _AnyPublicName()},
    )


def evaluate_expression(expression: str, record: Mapping) -> tuple[Any, dict[str, Any]]:
    """Evaluate one policy expression against a record; returns (result, fields read).

    Raises: EngineError when the expression is refused or cannot be evaluated."""
    if not isinstance(expression, str) or not expression.strip():
        raise EngineError("A rule's expression must be non-empty text.")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise EngineError(f"A rule's expression is longer than {MAX_EXPRESSION_LENGTH} characters.")
    reads: dict[str, Any] = {}
    evaluator = _make_evaluator(record, reads)
    try:
        result = evaluator.eval(expression)
    except simpleeval.NameNotDefined as exc:
        raise EngineError(f"The expression {expression!r} reads {exc.name!r}, which the record does not have.") from exc
    except simpleeval.InvalidExpression as exc:
        # FeatureNotAvailable, FunctionNotDefined, NumberTooHigh, IterableTooLong...
        raise EngineError(f"The expression {expression!r} was refused: {exc}") from exc
    except SyntaxError as exc:
        raise EngineError(f"The expression {expression!r} is not valid: {exc.msg}.") from exc
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError) as exc:
        raise EngineError(f"The expression {expression!r} could not be evaluated: {exc}") from exc
    return result, reads


def _parse_rule(raw: Any, index: int) -> dict:
    if not isinstance(raw, Mapping):
        raise EngineError(f"Rule {index + 1} of the rule set is not an object.")
    missing = [k for k in ("id", "version", "expression", "decision", "explanation") if not raw.get(k)]
    if missing:
        raise EngineError(f"Rule {index + 1} of the rule set lacks {', '.join(missing)}.")
    rule = {k: str(raw[k]) for k in ("id", "version", "decision", "explanation")}
    rule["expression"] = raw["expression"]
    return rule


def rule_refs(config: Mapping[str, Any]) -> set[str]:
    """Every `rule-id@version` a rule set defines (the validator checks rule claims against it)."""
    return {f"{r['id']}@{r['version']}" for r in config.get("rules", []) if isinstance(r, Mapping)}


class RulesEngine:
    name = "rules"
    version = "1"

    def propose(self, task: Task, config: Mapping[str, Any]) -> Proposal:
        raw_rules = config.get("rules")
        if not isinstance(raw_rules, list) or not raw_rules:
            raise EngineError("The rules engine needs a non-empty list of rules in its config.")
        if len(raw_rules) > MAX_RULES:
            raise EngineError(f"A rule set may hold at most {MAX_RULES} rules.")
        rules = [_parse_rule(r, i) for i, r in enumerate(raw_rules)]
        rule_set = f"{config.get('rule_set', 'rules')}@{config.get('version', '1')}"

        fired: list[tuple[dict, dict[str, Any]]] = []
        all_reads: dict[str, Any] = {}
        for rule in rules:
            result, reads = evaluate_expression(rule["expression"], task.record)
            if not isinstance(result, bool):
                raise EngineError(
                    f"Rule {rule['id']}@{rule['version']} must yield true or false, not {type(result).__name__}."
                )
            all_reads.update(reads)
            if result:
                fired.append((rule, reads))

        try:
            return self._proposal(config, rule_set, rules, fired, all_reads)
        except ProposalShapeError as exc:
            raise EngineError(f"The rule set produced an invalid proposal: {exc.message}") from exc

    def _proposal(self, config, rule_set, rules, fired, all_reads) -> Proposal:
        engine_version = f"{self.version}; {rule_set}"
        if not fired:
            decision = str(config.get("default_decision") or "").strip()
            if not decision:
                raise EngineError("No rule applied and the rule set names no default decision.")
            explanation = str(config.get("default_explanation") or "None of the policy rules applied to this case.")
            # Nothing fired: the reason is that every rule was checked, so the claim cites
            # every rule and every field they read.
            evidence = [Evidence("rule", f"{r['id']}@{r['version']}", False) for r in rules]
            evidence += [Evidence("field", path, value) for path, value in all_reads.items()]
            claims = [Claim(f"None of the {len(rules)} rules of {rule_set} applied.", evidence)]
            return Proposal(decision, 1.0, explanation, claims, self.name, engine_version)

        decision = fired[0][0]["decision"]
        agreeing = [rule for rule, _ in fired if rule["decision"] == decision]
        claims = []
        for rule, reads in fired:
            ref = f"{rule['id']}@{rule['version']}"
            evidence = [Evidence("rule", ref, True)]
            evidence += [Evidence("field", path, value) for path, value in reads.items()]
            claims.append(Claim(f"Rule {ref} applies: {rule['explanation']}", evidence))
        explanation = " ".join(rule["explanation"] for rule in agreeing)
        if len(agreeing) < len(fired):
            explanation += " Other rules point to a different decision, so this needs a closer look."
        # Rules are certain about themselves; disagreement between fired rules is the only doubt.
        confidence = len(agreeing) / len(fired)
        return Proposal(decision, confidence, explanation, claims, self.name, engine_version)


rules_engine = register_engine(RulesEngine())

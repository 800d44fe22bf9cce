"""The shared proposal shapes, and the registry's promise: garbage from an engine is an error, never a crash."""

import math

import pytest

from apps.agents.engines import EngineError, base, engine_names, register_engine, run_engine
from apps.agents.proposals import Claim, Evidence, Proposal, ProposalShapeError, Task, proposal_json_schema

TASK = Task(task_type="event_permit", record={"crowd_size": 120}, documents={}, institution_id=1)


def honest_dict():
    return {
        "decision": "approve",
        "confidence": 0.8,
        "explanation": "Small events like this one are approved.",
        "claims": [
            {"statement": "The crowd is small.", "evidence": [{"kind": "field", "ref": "crowd_size", "value": 120}]}
        ],
        "engine": "test",
        "engine_version": "1",
    }


def test_round_trip():
    proposal = Proposal.from_dict(honest_dict())
    assert proposal.claims[0].evidence[0] == Evidence("field", "crowd_size", 120)
    assert proposal.to_dict() == honest_dict()
    assert Proposal.from_dict(proposal.to_dict()) == proposal


def test_builtin_engines_are_registered():
    assert {"rules", "statistical", "precedent", "llm"} <= set(engine_names())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("decision"), "lacks decision"),
        (lambda d: d.update(extra=1), "unexpected members: extra"),
        (lambda d: d.update(decision=""), "decision must not be empty"),
        (lambda d: d.update(decision=["approve"]), "decision must be text"),
        (lambda d: d.update(confidence=1.5), "between 0 and 1"),
        (lambda d: d.update(confidence=-0.1), "between 0 and 1"),
        (lambda d: d.update(confidence=math.nan), "between 0 and 1"),
        (lambda d: d.update(confidence="high"), "must be a number"),
        (lambda d: d.update(confidence=True), "must be a number"),
        (lambda d: d.update(claims="because"), "claims must be a list"),
        (lambda d: d.update(claims=["because"]), "Claim 1 must be an object"),
        (lambda d: d["claims"][0].update(evidence={"kind": "field"}), "evidence must be a list"),
        (lambda d: d["claims"][0]["evidence"][0].update(kind="hunch"), "kind must be one of"),
        (lambda d: d["claims"][0]["evidence"][0].update(ref=""), "ref must not be empty"),
        (lambda d: d["claims"][0]["evidence"][0].update(value=object()), "plain JSON value"),
        (lambda d: d["claims"][0]["evidence"][0].pop("value"), "lacks value"),
        (lambda d: d.update(explanation="x" * 5000), "longer than"),
    ],
)
def test_garbage_is_a_shape_error(change, message):
    data = honest_dict()
    change(data)
    with pytest.raises(ProposalShapeError, match=message):
        Proposal.from_dict(data)


def test_not_an_object():
    with pytest.raises(ProposalShapeError, match="must be an object"):
        Proposal.from_dict(["approve"])


def test_empty_evidence_is_a_valid_shape_the_validator_rejects_later():
    assert Claim("I just know.", []).evidence == []


def test_documents_versions_accept_list_or_single_version():
    task = Task("t", {}, {"plan": ["1", "2"], "insurance": "3", "map": {"versions": [4]}}, 1)
    assert task.document_versions("plan") == {"1", "2"}
    assert task.document_versions("insurance") == {"3"}
    assert task.document_versions("map") == {"4"}
    assert task.document_versions("nope") == set()


def test_schema_lists_what_an_external_engine_writes():
    schema = proposal_json_schema()
    assert schema["required"] == ["decision", "confidence", "explanation", "claims"]
    assert schema["additionalProperties"] is False


@pytest.fixture(autouse=True)
def _restore_registry(monkeypatch):
    # Test engines register themselves; the registry goes back as it was afterwards.
    monkeypatch.setattr(base, "_ENGINES", dict(base._ENGINES))


class _Garbage:
    version = "0"

    def __init__(self, name, result=None, exc=None):
        self.name, self.result, self.exc = name, result, exc

    def propose(self, task, config):
        if self.exc:
            raise self.exc
        return self.result


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        (_Garbage("garbage-none", result=None), "returned NoneType, not a proposal"),
        (_Garbage("garbage-str", result="approve"), "returned str, not a proposal"),
        (_Garbage("garbage-dict", result={"decision": "approve"}), "malformed proposal: The proposal lacks"),
        (_Garbage("garbage-crash", exc=ZeroDivisionError("division by zero")), "failed: ZeroDivisionError"),
        (_Garbage("garbage-shape", exc=ProposalShapeError("bad claim")), "malformed proposal: bad claim"),
    ],
)
def test_run_engine_turns_garbage_into_engine_error(engine, message):
    register_engine(engine)
    with pytest.raises(EngineError, match=message):
        run_engine(engine.name, TASK, {})


def test_run_engine_accepts_a_well_formed_dict():
    register_engine(_Garbage("dict-engine", result=honest_dict()))
    assert run_engine("dict-engine", TASK).decision == "approve"


def test_unknown_engine():
    with pytest.raises(EngineError, match="no engine named 'oracle'"):
        run_engine("oracle", TASK, {})


def test_a_second_engine_cannot_take_a_name():
    with pytest.raises(ValueError, match="already registered"):
        register_engine(_Garbage("rules"))

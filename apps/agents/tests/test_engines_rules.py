"""Rules engine: policy expressions in simpleeval, each fired rule a claim citing itself and its fields."""

import pytest

from apps.agents.engines import EngineError, run_engine
from apps.agents.engines.rules import evaluate_expression, rule_refs
from apps.agents.proposals import Evidence, Task
from apps.agents.validation import validate

RULES = {
    "rule_set": "event-permits",
    "version": "2026.1",
    "default_decision": "approve",
    "default_explanation": "Your event meets every condition of the events policy.",
    "rules": [
        {
            "id": "crowd-fee",
            "version": "2",
            "expression": "crowd_size > 500 and not fee_paid",
            "decision": "deny",
            "explanation": "Events of more than 500 people must pay the stewarding fee first.",
        },
        {
            "id": "minor-organiser",
            "version": "1",
            "expression": "organiser.age < 18",
            "decision": "deny",
            "explanation": "The organiser of an event must be an adult.",
        },
        {
            "id": "quiet-zone",
            "version": "3",
            "expression": "zone == 'residential' and amplified_sound and end_hour >= 22",
            "decision": "review",
            "explanation": "Amplified sound after 22:00 in a residential zone needs a closer look.",
        },
    ],
}


def task(**changes):
    record = {
        "crowd_size": 120,
        "fee_paid": True,
        "zone": "park",
        "amplified_sound": False,
        "end_hour": 20,
        "organiser": {"name": "Ada", "age": 34},
    }
    record.update(changes)
    return Task("event_permit", record, {}, institution_id=1)


def test_fired_rule_is_a_claim_citing_the_rule_and_the_fields_it_read():
    t = task(crowd_size=800, fee_paid=False)
    proposal = run_engine("rules", t, RULES)
    assert proposal.decision == "deny"
    assert proposal.confidence == 1.0
    assert proposal.engine == "rules" and "event-permits@2026.1" in proposal.engine_version
    assert "stewarding fee" in proposal.explanation
    (claim,) = proposal.claims
    assert claim.evidence == [
        Evidence("rule", "crowd-fee@2", True),
        Evidence("field", "crowd_size", 800),
        Evidence("field", "fee_paid", False),
    ]
    assert validate(proposal, t, rules=RULES["rules"]).accepted


def test_nested_fields_are_cited_by_dotted_path():
    t = task(organiser={"name": "Tim", "age": 16})
    proposal = run_engine("rules", t, RULES)
    assert proposal.claims[0].evidence == [
        Evidence("rule", "minor-organiser@1", True),
        Evidence("field", "organiser.age", 16),
    ]
    assert validate(proposal, t, rules=RULES["rules"]).accepted


def test_only_fields_actually_read_are_cited():
    # `and` stops at the first false operand: zone is read, the others are not.
    _, reads = evaluate_expression("zone == 'residential' and amplified_sound", task().record)
    assert reads == {"zone": "park"}


def test_disagreeing_rules_lower_the_confidence():
    t = task(crowd_size=800, fee_paid=False, zone="residential", amplified_sound=True, end_hour=23)
    proposal = run_engine("rules", t, RULES)
    assert proposal.decision == "deny"
    assert proposal.confidence == 0.5
    assert len(proposal.claims) == 2
    assert "closer look" in proposal.explanation


def test_no_rule_fires_gives_the_default_citing_every_rule_checked():
    t = task()
    proposal = run_engine("rules", t, RULES)
    assert proposal.decision == "approve"
    refs = {e.ref for e in proposal.claims[0].evidence if e.kind == "rule"}
    assert refs == rule_refs(RULES) == {"crowd-fee@2", "minor-organiser@1", "quiet-zone@3"}
    assert validate(proposal, t, rules=RULES["rules"]).accepted


def test_missing_field_is_a_clear_error():
    t = Task("event_permit", {"crowd_size": 900}, {}, 1)
    with pytest.raises(EngineError, match="reads 'fee_paid', which the record does not have"):
        run_engine("rules", t, {"rules": [RULES["rules"][0]], "default_decision": "approve"})


def test_non_boolean_rule_is_refused():
    config = {"rules": [{**RULES["rules"][0], "expression": "crowd_size * 2"}], "default_decision": "approve"}
    with pytest.raises(EngineError, match="must yield true or false"):
        run_engine("rules", task(), config)


def test_malformed_rule_set_is_refused():
    with pytest.raises(EngineError, match="non-empty list of rules"):
        run_engine("rules", task(), {"rules": []})
    with pytest.raises(EngineError, match="lacks version"):
        run_engine("rules", task(), {"rules": [{"id": "x", "expression": "true", "decision": "d", "explanation": "e"}]})


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("__import__('os').system('true')", "not defined"),
        ("import os", "not allowed"),
        ("crowd_size.__class__", "__attributes"),
        ("organiser.__class__.__mro__", "__attributes"),
        ("().__class__.__bases__[0].__subclasses__()", "__attributes"),
        ("open('/etc/passwd').read()", "not defined"),
        ("eval('1')", "not defined"),
        ("zone.upper() == 'PARK'", "attribute access not allowed"),
        ("9 ** 9 ** 9", "9 \\*\\* 387420489"),
        ("'a' * 10 ** 9", "that long"),
        ("[x for x in range(10 ** 9)]", "not available"),
        ("(lambda: 1)()", "not implemented"),
    ],
)
def test_unsafe_or_endless_expressions_are_refused_quickly(expression, why):
    config = {"rules": [{**RULES["rules"][0], "expression": expression}], "default_decision": "approve"}
    # simpleeval refuses huge powers, strings and comprehensions before computing them,
    # and has no loops: nothing here can run for long.
    with pytest.raises(EngineError, match=why):
        run_engine("rules", task(), config)


def test_overlong_expression_is_refused():
    with pytest.raises(EngineError, match="longer than"):
        evaluate_expression("1 + " * 500 + "1", {})

"""Precedent engine: nearest past decisions of the same institution, never another's."""

import pytest

from apps.agents.engines import EngineError, run_engine
from apps.agents.proposals import Task
from apps.agents.validation import validate

CORPUS = [
    {
        "id": "A-1",
        "institution_id": 1,
        "decision": "approve",
        "text": "Street party in a residential street, 80 guests, ends at 21:00, no amplified music.",
    },
    {
        "id": "A-2",
        "institution_id": 1,
        "decision": "approve",
        "text": "Neighbourhood street party with 60 guests, residential street, finishes early evening.",
    },
    {
        "id": "A-3",
        "institution_id": 1,
        "decision": "deny",
        "text": "Open-air rave in the historic centre, 3000 people, amplified sound all night.",
    },
    {
        "id": "A-4",
        "institution_id": 1,
        "decision": "deny",
        "text": "Night-time concert with amplified sound in the historic centre for 2500 people.",
    },
    # Another institution's decisions: identical text to the query, and must never be cited.
    {
        "id": "B-1",
        "institution_id": 2,
        "decision": "deny",
        "text": "Street party in a residential street with 70 guests, no music, ends at 21:00.",
    },
    {
        "id": "B-2",
        "institution_id": "2",
        "decision": "deny",
        "text": "Street party in a residential street with 70 guests, no music, ends at 21:00.",
    },
]
CONFIG = {"corpus": CORPUS, "k": 3, "query_fields": ["summary"]}


def task(summary, institution_id=1):
    record = {"summary": summary, "crowd_size": 70}
    return Task("event_permit", record, {}, institution_id=institution_id)


def test_nearest_precedents_decide_and_are_cited():
    t = task("Street party in a residential street with 70 guests, no music, ends at 21:00.")
    proposal = run_engine("precedent", t, CONFIG)
    assert proposal.decision == "approve"
    cited = [e.ref for c in proposal.claims for e in c.evidence if e.kind == "precedent"]
    assert set(cited[:2]) == {"A-1", "A-2"}  # the two street parties, nearest first
    assert all(e.ref == "summary" for c in proposal.claims for e in c.evidence if e.kind == "field")
    assert "A-1" in proposal.explanation
    assert validate(proposal, t, precedents=CORPUS).accepted


def test_a_rave_follows_the_denials():
    t = task("Rave with amplified sound in the historic centre, 2800 people, all night.")
    proposal = run_engine("precedent", t, CONFIG)
    assert proposal.decision == "deny"
    assert {e.ref for c in proposal.claims for e in c.evidence if e.kind == "precedent"} >= {"A-3", "A-4"}


def test_never_cites_another_institutions_decisions():
    t = task("Street party in a residential street with 70 guests, no music, ends at 21:00.")
    proposal = run_engine("precedent", t, {**CONFIG, "k": 20, "min_similarity": 0.0})
    cited = {e.ref for c in proposal.claims for e in c.evidence if e.kind == "precedent"}
    assert cited and cited <= {"A-1", "A-2", "A-3", "A-4"}


def test_the_other_institution_sees_only_its_own():
    t = task("Street party in a residential street with 70 guests, no music, ends at 21:00.", institution_id=2)
    proposal = run_engine("precedent", t, CONFIG)
    cited = {e.ref for c in proposal.claims for e in c.evidence if e.kind == "precedent"}
    assert cited == {"B-1", "B-2"}
    assert proposal.decision == "deny"


def test_no_corpus_for_the_institution_is_no_proposal():
    with pytest.raises(EngineError, match="no past decisions"):
        run_engine("precedent", task("Street party", institution_id=3), CONFIG)


def test_nothing_similar_is_no_proposal():
    with pytest.raises(EngineError, match="similar enough"):
        run_engine("precedent", task("Budget review: road maintenance contracts"), CONFIG)


def test_query_field_must_exist():
    with pytest.raises(EngineError, match="no 'description' field"):
        run_engine("precedent", task("x"), {**CONFIG, "query_fields": ["description"]})


def test_default_query_uses_every_text_field():
    t = Task("event_permit", {"event": {"summary": "Rave in the historic centre"}, "crowd_size": 3000}, {}, 1)
    proposal = run_engine("precedent", t, {"corpus": CORPUS, "k": 2})
    assert proposal.decision == "deny"
    assert {e.ref for e in proposal.claims[0].evidence if e.kind == "field"} == {"event.summary"}
    assert validate(proposal, t, precedents=CORPUS).accepted

"""The validator: honest proposals pass; invented or contradicted evidence is caught and explained."""

import pytest

from apps.agents.proposals import Claim, Evidence, Proposal, Task
from apps.agents.validation import same_value, validate

TASK = Task(
    task_type="event_permit",
    record={
        "crowd_size": 120,
        "duration_hours": 3.0,
        "fee_paid": True,
        "zone": "park",
        "organiser": {"name": "Ada Moreau", "age": 34},
        "stewards": ["Ben", "Chloé"],
    },
    documents={"site-plan": ["1", "2"], "insurance": "2026-03"},
    institution_id=1,
)
RULES = [{"id": "crowd-fee", "version": "2", "expression": "crowd_size > 500 and not fee_paid"}]
PRECEDENTS = [
    {"id": "A-1", "institution_id": 1, "decision": "approve", "text": "Street party"},
    {"id": "B-9", "institution_id": 2, "decision": "approve", "text": "Street party elsewhere"},
]


def proposal(*claims):
    return Proposal("approve", 0.9, "Your event can go ahead.", list(claims), "test", "1")


def honest_claims():
    return [
        Claim(
            "The event is small and paid for.",
            [Evidence("field", "crowd_size", 120), Evidence("field", "fee_paid", True)],
        ),
        Claim("The organiser is an adult.", [Evidence("field", "organiser.age", 34)]),
        Claim("Two stewards are named; the first is Ben.", [Evidence("field", "stewards.0", "Ben")]),
        Claim("It lasts three hours.", [Evidence("field", "duration_hours", 3)]),
        Claim(
            "The site plan and insurance are on file.",
            [Evidence("document", "site-plan@2"), Evidence("document", "insurance@2026-03")],
        ),
        Claim("The crowd-and-fee rule does not apply.", [Evidence("rule", "crowd-fee@2", False)]),
        Claim("A similar street party was approved.", [Evidence("precedent", "A-1", "approve")]),
    ]


def test_honest_proposal_passes():
    report = validate(proposal(*honest_claims()), TASK, rules=RULES, precedents=PRECEDENTS)
    assert report.accepted, report.summary()
    assert report.findings == []
    assert report.claims_checked == 7 and report.evidence_checked == 9
    assert report.to_dict()["accepted"] is True
    assert "All 7 claims are backed" in report.summary()


@pytest.mark.parametrize(
    ("evidence", "kind", "why"),
    [
        (
            Evidence("field", "licence_number", "L-77"),
            "hallucination",
            "cites the field 'licence_number', which the record does not have",
        ),
        (
            Evidence("field", "organiser.phone", "555"),
            "hallucination",
            "'organiser.phone', which the record does not have",
        ),
        (Evidence("field", "stewards.5", "Eve"), "hallucination", "'stewards.5', which the record does not have"),
        (Evidence("field", "crowd_size", 80), "contradiction", "it says 'crowd_size' is 80, but the record says 120"),
        (Evidence("field", "crowd_size", "120"), "contradiction", "'crowd_size' is '120', but the record says 120"),
        (Evidence("field", "fee_paid", 1), "contradiction", "'fee_paid' is 1, but the record says True"),
        (Evidence("field", "organiser", {"name": "Ada Moreau", "age": 43}), "contradiction", "'organiser'"),
        (
            Evidence("document", "site-plan@3"),
            "hallucination",
            "version 3 of 'site-plan', but the case holds only 1, 2",
        ),
        (
            Evidence("document", "fire-certificate@1"),
            "hallucination",
            "'fire-certificate', which is not part of this case",
        ),
        (Evidence("document", "site-plan"), "hallucination", "without saying which version"),
        (Evidence("rule", "crowd-fee@1"), "hallucination", "the rule 'crowd-fee@1', which is not in the rule set"),
        (Evidence("rule", "noise-curfew@1"), "hallucination", "'noise-curfew@1', which is not in the rule set"),
        (
            Evidence("precedent", "A-404", "approve"),
            "hallucination",
            "past decision 'A-404', which is not a decision of this institution",
        ),
        (
            Evidence("precedent", "B-9", "approve"),
            "hallucination",
            "'B-9', which is not a decision of this institution",
        ),
        (Evidence("precedent", "A-1", "deny"), "contradiction", "past decision 'A-1' was 'deny', but it was 'approve'"),
    ],
)
def test_unbacked_evidence_is_caught_and_explained(evidence, kind, why):
    claims = honest_claims()
    claims.insert(2, Claim("A statement resting on bad evidence.", [Evidence("field", "zone", "park"), evidence]))
    report = validate(proposal(*claims), TASK, rules=RULES, precedents=PRECEDENTS)
    assert not report.accepted
    (finding,) = report.findings
    assert finding.kind == kind
    assert finding.claim_index == 2
    assert finding.evidence_ref == evidence.ref
    assert finding.statement == "A statement resting on bad evidence."
    assert finding.message.startswith('Claim 3 ("A statement resting on bad evidence.") is not backed: ')
    assert why in finding.message


def test_claim_without_evidence_is_rejected():
    claims = [*honest_claims(), Claim("Everyone loves this event.", [])]
    report = validate(proposal(*claims), TASK, rules=RULES, precedents=PRECEDENTS)
    assert not report.accepted
    (finding,) = report.findings
    assert (finding.kind, finding.claim_index) == ("unsupported", 7)
    assert finding.message == 'Claim 8 ("Everyone loves this event.") cites no evidence at all.'


def test_proposal_without_claims_is_rejected():
    report = validate(proposal(), TASK)
    assert not report.accepted
    assert "no reasons" in report.findings[0].message


def test_every_finding_is_reported_not_just_the_first():
    claims = [
        Claim("Big crowd.", [Evidence("field", "crowd_size", 9000)]),
        Claim("Licensed.", [Evidence("field", "licence", "yes")]),
        Claim("Trust me.", []),
    ]
    report = validate(proposal(*claims), TASK)
    assert [(f.kind, f.claim_index) for f in report.findings] == [
        ("contradiction", 0),
        ("hallucination", 1),
        ("unsupported", 2),
    ]
    assert report.hallucinated
    assert "Claim 1" in report.summary() and "Claim 3" in report.summary()


def test_rule_claims_are_only_checked_against_a_given_rule_set():
    claims = [Claim("A rule applies.", [Evidence("rule", "anything@1", True)])]
    assert validate(proposal(*claims), TASK).accepted
    assert not validate(proposal(*claims), TASK, rules=RULES).accepted


def test_precedent_claims_need_the_corpus():
    claims = [Claim("A similar case was approved.", [Evidence("precedent", "A-1", "approve")])]
    report = validate(proposal(*claims), TASK)
    assert not report.accepted
    assert "no past decisions were given" in report.findings[0].message


def test_same_value_is_strict_about_types_but_not_int_and_float():
    assert same_value(3, 3.0)
    assert not same_value(True, 1)
    assert not same_value("3", 3)
    assert same_value(["a", 1], ["a", 1.0])
    assert not same_value(None, 0)

"""Scoring of contract-net bids: pure functions, no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.agents.negotiation.scoring import (
    NEUTRAL_WEIGHT,
    WEIGHT_CEILING,
    WEIGHT_FLOOR,
    BidInput,
    WeightsError,
    clean_weights,
    explain,
    reputation_weight,
    score_bids,
)

EVEN = {"price": 1, "time": 1, "confidence": 1}


def bid(key, price, hours, confidence, reputation=NEUTRAL_WEIGHT, order=0):
    return BidInput(
        key=key,
        price=Decimal(price),
        hours=hours,
        confidence=Decimal(confidence),
        reputation=reputation,
        order=order,
    )


def test_weights_are_normalised_to_sum_to_one():
    assert clean_weights({"price": 2, "time": 1, "confidence": 1}) == {"price": 0.5, "time": 0.25, "confidence": 0.25}
    assert clean_weights({"price": "0", "time": "3", "confidence": 0}) == {"price": 0.0, "time": 1.0, "confidence": 0.0}


@pytest.mark.parametrize(
    "weights",
    [
        {"price": 1, "time": 1},
        {"price": 1, "time": 1, "confidence": 1, "colour": 1},
        {"price": -1, "time": 1, "confidence": 1},
        {"price": 0, "time": 0, "confidence": 0},
        {"price": "cheap", "time": 1, "confidence": 1},
        {"price": float("nan"), "time": 1, "confidence": 1},
        {"price": float("inf"), "time": 1, "confidence": 1},
        {"price": True, "time": 1, "confidence": 1},
        [1, 1, 1],
        None,
    ],
)
def test_bad_weights_are_refused(weights):
    with pytest.raises(WeightsError):
        clean_weights(weights)
    with pytest.raises(WeightsError):
        score_bids([bid("a", "1", 1, "0.5")], weights)


def test_cheaper_faster_and_more_confident_is_better():
    ranked = score_bids(
        [bid("dear", "200", 10, "0.8"), bid("cheap", "100", 10, "0.8")], {"price": 1, "time": 0, "confidence": 0}
    )
    assert [r.key for r in ranked] == ["cheap", "dear"]
    assert ranked[0].criteria["price"] == 1.0 and ranked[1].criteria["price"] == 0.5
    ranked = score_bids(
        [bid("slow", "100", 40, "0.8"), bid("fast", "100", 10, "0.8")], {"price": 0, "time": 1, "confidence": 0}
    )
    assert [r.key for r in ranked] == ["fast", "slow"] and ranked[1].criteria["time"] == 0.25
    ranked = score_bids(
        [bid("unsure", "100", 10, "0.4"), bid("sure", "100", 10, "0.8")], {"price": 0, "time": 0, "confidence": 1}
    )
    assert [r.key for r in ranked] == ["sure", "unsure"] and ranked[1].criteria["confidence"] == 0.5


def test_the_weights_decide_between_a_cheap_slow_and_a_dear_fast_bid():
    bids = [bid("cheap-slow", "100", 100, "0.9"), bid("dear-fast", "150", 10, "0.9")]
    assert score_bids(bids, {"price": 1, "time": 0.1, "confidence": 0})[0].key == "cheap-slow"
    assert score_bids(bids, {"price": 0.1, "time": 1, "confidence": 0})[0].key == "dear-fast"


def test_reputation_changes_the_winner():
    bids = [bid("better-offer", "100", 10, "0.8"), bid("trusted", "110", 10, "0.8")]
    assert score_bids(bids, EVEN)[0].key == "better-offer"
    bids = [bid("better-offer", "100", 10, "0.8", reputation=0.5), bid("trusted", "110", 10, "0.8", reputation=1.5)]
    ranked = score_bids(bids, EVEN)
    assert [r.key for r in ranked] == ["trusted", "better-offer"]
    assert ranked[0].score == pytest.approx(ranked[0].criteria_score * 1.5)
    assert [r.rank for r in ranked] == [1, 2]


def test_ties_are_broken_deterministically_whatever_the_input_order():
    a = bid("did:key:a", "100", 10, "0.8", order=2)
    b = bid("did:key:b", "100", 10, "0.8", order=1)
    assert [r.key for r in score_bids([a, b], EVEN)] == ["did:key:b", "did:key:a"]  # the earlier bid
    assert [r.key for r in score_bids([b, a], EVEN)] == ["did:key:b", "did:key:a"]
    same_order = [bid("did:key:z", "100", 10, "0.8"), bid("did:key:y", "100", 10, "0.8")]
    assert score_bids(same_order, EVEN)[0].key == "did:key:y"  # then the DID
    # equal scores from different offers: the lower price wins the tie
    cheaper = bid("cheaper", "100", 20, "0.8", order=9)
    faster = bid("faster", "200", 10, "0.8", order=1)
    weights = {"price": 1, "time": 1, "confidence": 0}
    ranked = score_bids([faster, cheaper], weights)
    assert ranked[0].score == ranked[1].score and ranked[0].key == "cheaper"
    assert "tie" in explain(ranked, clean_weights(weights))


def test_a_free_bid_and_zero_confidence_do_not_divide_by_zero():
    ranked = score_bids([bid("free", "0", 10, "0"), bid("paid", "10", 10, "0")], EVEN)
    assert ranked[0].key == "free" and ranked[0].criteria["price"] == 1.0 and ranked[1].criteria["price"] == 0.0
    assert all(r.criteria["confidence"] == 0.0 for r in ranked)


def test_no_bids_scores_nothing():
    assert score_bids([], EVEN) == []
    assert explain([], clean_weights(EVEN))


def test_reputation_weight_is_relative_to_a_uniform_share_and_bounded():
    assert reputation_weight(score=0.25, agents_in_snapshot=4) == pytest.approx(1.0)
    assert reputation_weight(score=0.5, agents_in_snapshot=4) == WEIGHT_CEILING
    assert reputation_weight(score=0.0, agents_in_snapshot=4) == WEIGHT_FLOOR
    assert reputation_weight(score=0.3, agents_in_snapshot=4) == pytest.approx(1.2)
    assert reputation_weight(score=None, agents_in_snapshot=4) == NEUTRAL_WEIGHT
    assert reputation_weight(score=0.3, agents_in_snapshot=0) == NEUTRAL_WEIGHT

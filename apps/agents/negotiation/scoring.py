"""Scoring the bids of a call for proposals: pure functions, no database (messages are translated).

Each bid gets a criteria score in [0, 1], the weighted sum of three ratios taken across
the bids of the call (the usual procurement formulas):

- price: lowest price / this price (a free bid scores 1, and then every paid bid 0),
- time: shortest time / this time,
- confidence: this confidence / highest confidence (all zero: every bid 0),

so the cheapest, fastest and most confident bid scores 1 on that criterion and the
others in proportion. The score is the criteria score times the agent's reputation
weight (`reputation_weight`): 1 is neutral. The best score wins; ties are broken by
lower price, then shorter time, then higher confidence, then the earlier bid
(`order`), then the agent's DID, so the same bids always give the same winner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

CRITERIA = ("price", "time", "confidence")
NEUTRAL_WEIGHT = 1.0
# A reputation weight is bounded: a tiny stored score does not zero a good bid, and a
# dominant agent cannot win with an offer several times worse than the others'.
WEIGHT_FLOOR = 0.1
WEIGHT_CEILING = 2.0
# Floats that differ below this are the same score (sums of products in another order).
SCORE_DIGITS = 12


class WeightsError(ValueError):
    """The award criteria are not three non-negative numbers with a positive sum."""


def clean_weights(raw: Any) -> dict[str, float]:
    """Weights of price, time and confidence, normalised to sum to 1.

    Raises: WeightsError with a message for people."""
    if not isinstance(raw, dict) or set(raw) != set(CRITERIA):
        raise WeightsError(_("Give a weight for each of price, time and confidence (and nothing else)."))
    weights: dict[str, float] = {}
    for name in CRITERIA:
        value = raw[name]
        if isinstance(value, bool):
            raise WeightsError(_("The weight of %(name)s must be a number.") % {"name": name})
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise WeightsError(_("The weight of %(name)s must be a number.") % {"name": name}) from None
        if not math.isfinite(number) or number < 0:
            raise WeightsError(_("The weight of %(name)s must be zero or more.") % {"name": name})
        weights[name] = number
    total = sum(weights.values())
    if total <= 0:
        raise WeightsError(_("At least one weight must be more than zero."))
    return {name: weights[name] / total for name in CRITERIA}


def reputation_weight(*, score: float | None, agents_in_snapshot: int) -> float:
    """The weight of an agent's stored EigenTrust score: its score relative to a uniform share.

    EigenTrust scores of a snapshot sum to 1 over its n agents, so `score * n` is 1 for an
    average agent, bounded to [WEIGHT_FLOOR, WEIGHT_CEILING]. No score (no snapshot yet,
    an agent not in it, an agent of another institution): the neutral weight 1."""
    if score is None or agents_in_snapshot <= 0 or not math.isfinite(score):
        return NEUTRAL_WEIGHT
    return min(max(score * agents_in_snapshot, WEIGHT_FLOOR), WEIGHT_CEILING)


@dataclass(frozen=True)
class BidInput:
    key: str  # the agent's DID
    price: Decimal
    hours: int
    confidence: Decimal
    reputation: float = NEUTRAL_WEIGHT
    order: int = 0  # the bid's arrival order, for the last tie-break


@dataclass(frozen=True)
class ScoredBid:
    key: str
    criteria: dict[str, float]
    criteria_score: float
    reputation: float
    score: float
    rank: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.key,
            "criteria": self.criteria,
            "criteria_score": self.criteria_score,
            "reputation_weight": self.reputation,
            "score": self.score,
            "rank": self.rank,
        }


def _ratio(numerator: Decimal, denominator: Decimal) -> float:
    if denominator == 0:
        return 1.0 if numerator == 0 else 0.0
    return float(numerator / denominator)


def score_bids(bids: list[BidInput], weights: dict[str, float]) -> list[ScoredBid]:
    """Every bid scored and ranked, best first (rank 1 is the winner).

    Raises: WeightsError when the weights are not valid."""
    weights = clean_weights(weights)
    if not bids:
        return []
    lowest_price = min(Decimal(b.price) for b in bids)
    shortest = min(int(b.hours) for b in bids)
    most_confident = max(Decimal(b.confidence) for b in bids)
    scored = []
    for bid in bids:
        price = Decimal(bid.price)
        criteria = {
            "price": 1.0 if price == lowest_price else _ratio(lowest_price, price),
            "time": _ratio(Decimal(shortest), Decimal(int(bid.hours))),
            "confidence": _ratio(Decimal(bid.confidence), most_confident) if most_confident > 0 else 0.0,
        }
        criteria_score = round(sum(weights[name] * criteria[name] for name in CRITERIA), SCORE_DIGITS)
        reputation = float(bid.reputation)
        scored.append((bid, criteria, criteria_score, reputation, round(criteria_score * reputation, SCORE_DIGITS)))
    scored.sort(
        key=lambda item: (
            -item[4],
            Decimal(item[0].price),
            int(item[0].hours),
            -Decimal(item[0].confidence),
            item[0].order,
            item[0].key,
        )
    )
    return [
        ScoredBid(
            key=bid.key,
            criteria={name: round(value, SCORE_DIGITS) for name, value in criteria.items()},
            criteria_score=criteria_score,
            reputation=reputation,
            score=score,
            rank=rank,
        )
        for rank, (bid, criteria, criteria_score, reputation, score) in enumerate(scored, start=1)
    ]


def explain(ranked: list[ScoredBid], weights: dict[str, float], names: dict[str, str] | None = None) -> str:
    """One paragraph for people: what won and why, in the terms of the formula (`names`: key -> label)."""
    names = names or {}
    if not ranked:
        return _("No acceptable bid was received.")
    winner = ranked[0]
    text = _(
        "Weights: price %(wp).0f%%, time %(wt).0f%%, confidence %(wc).0f%%. The winning bid of %(agent)s scored "
        "%(criteria).3f on the criteria (price %(price).3f, time %(time).3f, confidence %(confidence).3f), "
        "times a reputation weight of %(reputation).2f: %(score).3f."
    ) % {
        "wp": weights["price"] * 100,
        "wt": weights["time"] * 100,
        "wc": weights["confidence"] * 100,
        "agent": names.get(winner.key, winner.key),
        "criteria": winner.criteria_score,
        "price": winner.criteria["price"],
        "time": winner.criteria["time"],
        "confidence": winner.criteria["confidence"],
        "reputation": winner.reputation,
        "score": winner.score,
    }
    if len(ranked) > 1:
        runner = ranked[1]
        if runner.score == winner.score:
            text += " " + _(
                "The next best, %(agent)s, scored the same (%(score).3f): the tie was broken by lower price, "
                "shorter time, higher confidence, then the earlier bid."
            ) % {"agent": names.get(runner.key, runner.key), "score": runner.score}
        else:
            text += " " + _("The next best, %(agent)s, scored %(score).3f.") % {
                "agent": names.get(runner.key, runner.key),
                "score": runner.score,
            }
    return text

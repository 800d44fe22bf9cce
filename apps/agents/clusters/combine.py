"""The reputation-weighted vote over the accepted proposals of a run (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Combined:
    decision: str
    confidence: float | None
    disagreement: float
    support: dict[str, float]


def weighted_vote(votes: list[tuple[str, str, float]], weights: dict[str, float]) -> Combined:
    """`votes`: (agent key, decision, confidence). Each vote counts weight times confidence.

    Confidence is the winner's support over all the weight; disagreement the share of weight
    (not confidence) behind another decision. No votes: no decision, full disagreement 0."""
    if not votes:
        return Combined(decision="", confidence=None, disagreement=0.0, support={})
    support: dict[str, float] = {}
    weight_for: dict[str, float] = {}
    for agent, decision, confidence in votes:
        weight = weights.get(agent, 0.0)
        support[decision] = support.get(decision, 0.0) + weight * confidence
        weight_for[decision] = weight_for.get(decision, 0.0) + weight
    # ties broken by name so that the outcome is deterministic
    decision = max(sorted(support), key=lambda d: support[d])
    total_weight = sum(weight_for.values())
    # the winner's weighted confidence, discounted by the weight that voted otherwise
    confidence = support[decision] / total_weight if total_weight > 0 else 0.0
    disagreement = 1 - weight_for[decision] / total_weight if total_weight > 0 else 0.0
    return Combined(
        decision=decision, confidence=round(confidence, 6), disagreement=round(disagreement, 6), support=support
    )

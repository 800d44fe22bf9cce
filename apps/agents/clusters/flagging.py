"""The flagging policy: when a cluster's decision goes to the council instead of standing."""

from __future__ import annotations

from typing import Any

from apps.agents.validation import record_value
from portal.errors import ValidationFailed

DEFAULT_POLICY: dict[str, Any] = {
    "min_confidence": 0.6,
    "max_disagreement": 0.34,
    "high_impact": None,  # {"field": "amount", "threshold": 10000}: at or above it, always flag
    "flag_on_rejected": True,
    "flag_on_out_of_scope": True,
    # share of unflagged decisions sent to the council anyway, so that the error rate of the
    # decisions that stand is measured rather than assumed
    "audit_sample_rate": 0.0,
    # agents the councils often contradicted (see calibration.py): a run they take part in is flagged
    "watch_agents": [],
}


def clean_policy(value: Any) -> dict[str, Any]:
    """Raises: ValidationFailed."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValidationFailed(errors={"flagging_policy": ["Must be an object."]})
    unknown = sorted(set(value) - set(DEFAULT_POLICY))
    if unknown:
        raise ValidationFailed(errors={"flagging_policy": [f"Unknown members: {', '.join(unknown)}."]})
    policy = {**DEFAULT_POLICY, **value}
    errors = []
    for name in ("min_confidence", "max_disagreement", "audit_sample_rate"):
        number = policy[name]
        if isinstance(number, bool) or not isinstance(number, int | float) or not 0 <= number <= 1:
            errors.append(f"{name} must be a number between 0 and 1.")
    for name in ("flag_on_rejected", "flag_on_out_of_scope"):
        if not isinstance(policy[name], bool):
            errors.append(f"{name} must be true or false.")
    watch = policy["watch_agents"]
    if not isinstance(watch, list) or len(watch) > 200 or not all(isinstance(u, str) and len(u) <= 64 for u in watch):
        errors.append("watch_agents must be a list of agent identifiers.")
    high = policy["high_impact"]
    if high is not None and (
        not isinstance(high, dict)
        or set(high) != {"field", "threshold"}
        or not isinstance(high["field"], str)
        or not high["field"]
        or isinstance(high["threshold"], bool)
        or not isinstance(high["threshold"], int | float)
    ):
        errors.append('high_impact must be {"field": "<dotted path>", "threshold": <number>}.')
    if errors:
        raise ValidationFailed(errors={"flagging_policy": errors})
    return policy


def flag_reasons(
    *,
    policy: dict,
    record: dict,
    confidence: float | None,
    disagreement: float,
    rejected: int,
    refused: int,
    participants: tuple[str, ...] = (),
) -> list[str]:
    """Every reason the policy gives to flag this outcome; empty means the decision stands."""
    policy = {**DEFAULT_POLICY, **policy}
    reasons = []
    if confidence is None:
        reasons.append("No agent's proposal was accepted.")
    elif confidence < policy["min_confidence"]:
        reasons.append(f"Confidence {confidence:.2f} is below {policy['min_confidence']:.2f}.")
    if disagreement > policy["max_disagreement"]:
        reasons.append(f"Disagreement {disagreement:.2f} is above {policy['max_disagreement']:.2f}.")
    if rejected and policy["flag_on_rejected"]:
        reasons.append(f"{rejected} proposal(s) were rejected by the validator.")
    if refused and policy["flag_on_out_of_scope"]:
        reasons.append(f"{refused} agent(s) were refused as inactive or out of scope.")
    watched = sorted(set(participants) & set(policy.get("watch_agents") or []))
    if watched:
        reasons.append(f"{len(watched)} agent(s) on the watch list took part (often contradicted by councils).")
    high = policy.get("high_impact")
    if high:
        value = record_value(record, high["field"])
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= high["threshold"]:
            reasons.append(f"High impact: {high['field']} is {value} (threshold {high['threshold']}).")
    return reasons


def sampled_for_audit(*, policy: dict, inputs_digest: str, run_id: int) -> bool:
    """Whether this unflagged run goes to the council anyway. Deterministic (a hash of the run,
    not a random draw), so anyone can check which runs the sample had to contain."""
    import hashlib

    rate = float({**DEFAULT_POLICY, **policy}.get("audit_sample_rate") or 0.0)
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"audit-sample:{run_id}:{inputs_digest}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate

"""Reputation of agents: EigenTrust (pure, `eigentrust.py`), its stored evidence and history
(`services.py`, `selectors.py`), and the threat-model simulation (`simulation.py`)."""

from apps.agents.reputation.eigentrust import (
    COUNCIL,
    DEFAULT_WEIGHTS,
    GRAPH_LABELS,
    PEER,
    VALIDATION,
    Contribution,
    EdgeReason,
    EigenTrustConfig,
    Explanation,
    Interactions,
    Reputation,
    ReputationInputError,
    edge_reason,
    eigentrust,
    explain,
)

__all__ = [
    "COUNCIL",
    "DEFAULT_WEIGHTS",
    "GRAPH_LABELS",
    "PEER",
    "VALIDATION",
    "Contribution",
    "EdgeReason",
    "EigenTrustConfig",
    "Explanation",
    "Interactions",
    "Reputation",
    "ReputationInputError",
    "edge_reason",
    "eigentrust",
    "explain",
]

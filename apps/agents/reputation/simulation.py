"""The threat models of the EigenTrust paper, replayed on task allocation among agents.

Kamvar et al. (2003), section 7: A independent malicious agents, B a malicious collective,
C a camouflaged collective, D a collective with spies. Here an agent "serves" by winning
a task it bid for; the agent that asked for the task validates the result and records the
outcome in the ``validation`` graph; agents also rate each other in the ``peer`` graph.

- Good agents deliver a good result with probability ``good_quality`` and rate honestly.
- A: malicious agents always deliver bad results and value bad results (a bad result gets
  their positive rating, a good one their negative rating).
- B: as A, and every malicious agent rates every other one highly in the peer graph.
- C: as B, but malicious agents deliver a good result ``camouflage`` of the time and rate
  honestly, so they earn real trust from good agents.
- D: the collective splits into bad servers (as in B) and spies that deliver good results
  (earning trust from good agents) and pour their peer and validation ratings into the
  bad servers.

Allocation: each task draws ``bidders`` distinct agents; with reputation, the winner is
drawn in proportion to the current scores, except that with probability ``explore`` it is
drawn uniformly (the paper's 10% chance for newcomers, whose score is 0); without
reputation it is always drawn uniformly. Scores are recomputed from all interactions so
far after every round. Everything is driven by one seeded generator: same seed, same
table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.agents.reputation.eigentrust import PEER, VALIDATION, EigenTrustConfig, Interactions, eigentrust

THREAT_MODELS = ("A", "B", "C", "D")
SIM_WEIGHTS = {VALIDATION: 0.7, PEER: 0.3}


@dataclass(frozen=True)
class SimulationConfig:
    agents: int = 100
    malicious: float = 0.3  # share of the agents in the collective (servers and spies in D)
    spies: float = 0.5  # in D, the share of the collective that are spies
    pretrusted: int = 3  # good agents certified by institutions
    rounds: int = 20
    tasks_per_round: int = 100
    bidders: int = 5
    good_quality: float = 0.95
    camouflage: float = 0.5
    explore: float = 0.1
    alpha: float = 0.15
    seed: int = 2003


@dataclass(frozen=True)
class Outcome:
    model: str
    weighted: bool
    tasks: int
    won_by_malicious: int  # tasks won by any member of the collective (spies included)
    bad_results: int  # tasks whose result was bad

    @property
    def malicious_share(self) -> float:
        return self.won_by_malicious / self.tasks if self.tasks else 0.0

    @property
    def bad_share(self) -> float:
        return self.bad_results / self.tasks if self.tasks else 0.0


def simulate(model: str, *, weighted: bool, config: SimulationConfig | None = None) -> Outcome:
    """Run one threat model with or without reputation-weighted allocation."""
    if model not in THREAT_MODELS:
        raise ValueError(f"unknown threat model {model!r}; expected one of {', '.join(THREAT_MODELS)}")
    config = config or SimulationConfig()
    # One stream per model, independent of `weighted`, so both policies face the same kind of world.
    rng = np.random.default_rng([config.seed, THREAT_MODELS.index(model), int(weighted)])
    n = config.agents
    n_malicious = round(n * config.malicious)
    malicious = np.zeros(n, dtype=bool)
    malicious[n - n_malicious :] = True  # good agents first: 0..pretrusted-1 are certified
    spy = np.zeros(n, dtype=bool)
    if model == "D":
        n_spies = round(n_malicious * config.spies)
        spy[n - n_malicious : n - n_malicious + n_spies] = True
    server = malicious & ~spy  # the members that deliver bad results
    collective = np.flatnonzero(malicious)
    pretrusted = np.arange(min(config.pretrusted, n - n_malicious))
    et_config = EigenTrustConfig(weights=SIM_WEIGHTS, alpha=config.alpha)

    # Peer ratings are fixed for the whole run: the collective's members vouch for the bad servers.
    peer_rater: list[np.ndarray] = []
    peer_ratee: list[np.ndarray] = []
    if model in ("B", "C", "D"):
        targets = np.flatnonzero(server)
        raters, ratees = np.meshgrid(collective, targets, indexing="ij")
        keep = raters != ratees
        peer_rater.append(raters[keep])
        peer_ratee.append(ratees[keep])
    peer_r = np.concatenate(peer_rater) if peer_rater else np.empty(0, dtype=np.int64)
    peer_e = np.concatenate(peer_ratee) if peer_ratee else np.empty(0, dtype=np.int64)
    peer_weight = np.full(peer_r.size, 10.0)

    history: dict[str, list[np.ndarray]] = {"rater": [], "ratee": [], "positive": [], "negative": []}
    scores = np.zeros(n)
    scores[pretrusted] = 1.0 / max(pretrusted.size, 1)
    won, bad, tasks = 0, 0, 0
    for _ in range(config.rounds):
        for _ in range(config.tasks_per_round):
            requester = int(rng.integers(n))
            candidates = rng.choice(np.delete(np.arange(n), requester), size=config.bidders, replace=False)
            weights = scores[candidates]
            if not weighted or rng.random() < config.explore or weights.sum() <= 0:
                winner = int(rng.choice(candidates))
            else:
                winner = int(rng.choice(candidates, p=weights / weights.sum()))
            if server[winner]:
                good = model == "C" and rng.random() < config.camouflage
            else:
                good = rng.random() < config.good_quality
            liked = good
            if malicious[requester] and (model != "C"):
                liked = not good  # the collective values bad results (and, in D, its own)
            if model in ("B", "C", "D") and malicious[requester] and server[winner]:
                liked = True  # a member always praises a fellow bad server
            history["rater"].append(np.array([requester]))
            history["ratee"].append(np.array([winner]))
            history["positive"].append(np.array([1.0 if liked else 0.0]))
            history["negative"].append(np.array([0.0 if liked else 1.0]))
            tasks += 1
            won += bool(malicious[winner])
            bad += not good
        if weighted:
            rater = np.concatenate([*history["rater"], peer_r])
            ratee = np.concatenate([*history["ratee"], peer_e])
            positive = np.concatenate([*history["positive"], peer_weight])
            negative = np.concatenate([*history["negative"], np.zeros(peer_r.size)])
            graph = np.array([VALIDATION] * (rater.size - peer_r.size) + [PEER] * peer_r.size)
            result = eigentrust(
                Interactions(rater, ratee, positive, negative, graph),
                pretrusted=pretrusted,
                agents=np.arange(n),
                config=et_config,
            )
            scores = result.scores  # agents 0..n-1 are all present, so index == id
    return Outcome(model=model, weighted=weighted, tasks=tasks, won_by_malicious=won, bad_results=bad)


def threat_model_table(config: SimulationConfig | None = None) -> list[tuple[Outcome, Outcome]]:
    """(without reputation, with reputation) for each threat model."""
    return [
        (simulate(m, weighted=False, config=config), simulate(m, weighted=True, config=config)) for m in THREAT_MODELS
    ]


def format_table(rows: list[tuple[Outcome, Outcome]]) -> str:
    lines = [
        "| threat model | tasks won by the collective: uniform / reputation | bad results: uniform / reputation |",
        "| --- | --- | --- |",
    ]
    names = {"A": "A independent", "B": "B collective", "C": "C camouflaged", "D": "D spies"}
    for plain, rep in rows:
        lines.append(
            f"| {names[plain.model]} | {plain.malicious_share:.1%} / {rep.malicious_share:.1%} "
            f"| {plain.bad_share:.1%} / {rep.bad_share:.1%} |"
        )
    return "\n".join(lines)

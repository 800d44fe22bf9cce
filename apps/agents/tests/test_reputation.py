"""EigenTrust over interaction graphs: known answers, edge cases, explain(), threat models."""

from __future__ import annotations

import numpy as np
import pytest

from apps.agents.reputation import (
    PEER,
    VALIDATION,
    EigenTrustConfig,
    Interactions,
    ReputationInputError,
    eigentrust,
    explain,
)
from apps.agents.reputation.simulation import SimulationConfig, simulate, threat_model_table

PEER_ONLY = EigenTrustConfig(weights={PEER: 1.0}, alpha=0.5, tolerance=1e-14)
TWO_GRAPHS = EigenTrustConfig(weights={VALIDATION: 0.5, PEER: 0.5}, alpha=0.5, tolerance=1e-14)


def tiny() -> Interactions:
    return Interactions.from_records(
        [
            (1, 2, 2, 0, PEER),
            (1, 3, 1, 0, PEER),
            (2, 1, 1, 0, PEER),
            (2, 3, 1, 3, PEER),  # net -2: clipped to 0, row 2 still trusts only agent 1
            (3, 3, 5, 0, PEER),  # self-rating: ignored, so row 3 falls back to p
        ]
    )


def test_tiny_graph_matches_the_hand_computed_answer():
    # C = [[0, 2/3, 1/3], [1, 0, 0], p], p = e_1, a = 1/2:
    # t2 = t1/3, t3 = t1/6, t1 = (t2 + t3)/2 + 1/2  =>  t = (2/3, 2/9, 1/9).
    result = eigentrust(tiny(), pretrusted=[1], config=PEER_ONLY)
    assert list(result.agents) == [1, 2, 3]
    assert result.scores == pytest.approx([2 / 3, 2 / 9, 1 / 9], abs=1e-12)
    assert result.converged and result.residual < 1e-14


def test_graphs_are_combined_by_weight():
    # Row 1 = 0.5 e_2 + 0.5 e_3; rows 2 and 3 trust nobody: p = e_1.
    # t2 = t3 = t1/4, t1 = (t2 + t3)/2 + 1/2  =>  t = (2/3, 1/6, 1/6).
    interactions = Interactions.from_records([(1, 2, 1, 0, VALIDATION), (1, 3, 4, 0, PEER)])
    result = eigentrust(interactions, pretrusted=[1], config=TWO_GRAPHS)
    assert result.scores == pytest.approx([2 / 3, 1 / 6, 1 / 6], abs=1e-12)


def random_interactions(n: int, m: int, seed: int) -> Interactions:
    rng = np.random.default_rng(seed)
    return Interactions(
        rng.integers(0, n, m),
        rng.integers(0, n, m),
        rng.integers(0, 4, m),
        rng.integers(0, 3, m),
        np.array([VALIDATION, PEER, "council"])[rng.integers(0, 3, m)],
    )


def dense_eigentrust(interactions: Interactions, n: int, pretrusted: list[int], config: EigenTrustConfig) -> np.ndarray:
    """The same definition, written densely and solved directly: t = a (I - (1-a) C^T)^-1 p."""
    p = np.zeros(n)
    p[pretrusted] = 1 / len(pretrusted)
    weights = config.normalised_weights()
    combined = np.zeros((n, n))
    for name, weight in weights.items():
        local = np.zeros((n, n))
        for i, j, pos, neg, g in zip(
            *(getattr(interactions, f) for f in ("rater", "ratee", "positive", "negative", "graph")), strict=True
        ):
            if g == name and i != j:
                local[i, j] += pos - neg
        local = np.maximum(local, 0)
        for i in range(n):
            total = local[i].sum()
            local[i] = local[i] / total if total > 0 else p
        combined += weight * local
    a = config.alpha
    return a * np.linalg.solve(np.eye(n) - (1 - a) * combined.T, p)


def test_converges_to_the_direct_solution_and_sums_to_one():
    interactions = random_interactions(60, 400, seed=7)
    config = EigenTrustConfig(tolerance=1e-13)
    result = eigentrust(interactions, pretrusted=[0, 5, 9], agents=range(60), config=config)
    assert result.converged
    assert result.residual < 1e-13
    assert 1 < result.iterations < config.max_iterations
    assert result.scores.sum() == pytest.approx(1.0, abs=1e-12)
    assert result.scores == pytest.approx(dense_eigentrust(interactions, 60, [0, 5, 9], config), abs=1e-10)


def test_iteration_cap_is_reported():
    result = eigentrust(random_interactions(60, 400, seed=7), pretrusted=[0], config=EigenTrustConfig(max_iterations=2))
    assert result.iterations == 2
    assert not result.converged
    assert result.residual > 0
    assert result.scores.sum() == pytest.approx(1.0)


def test_rows_without_outgoing_trust_fall_back_to_the_pretrusted():
    # Agent 2 only gave negative ratings: its trust goes to pre-trusted agent 3, not to agent 1.
    interactions = Interactions.from_records([(2, 1, 0, 4, PEER), (1, 2, 1, 0, PEER)])
    result = eigentrust(interactions, pretrusted=[3], config=PEER_ONLY)
    assert result.share(PEER, 2, 3) == 1.0
    assert result.share(PEER, 2, 1) == 0.0
    # Without interactions at all every agent trusts the pre-trusted ones, whatever the weights.
    nothing = eigentrust(Interactions.empty(), pretrusted=["b"], agents=["a", "b", "c"])
    assert nothing.as_dict() == {"a": 0.0, "b": 1.0, "c": 0.0}
    assert nothing.converged


def test_without_pretrusted_agents_p_is_uniform():
    result = eigentrust(Interactions.empty(), agents=[4, 8, 15, 16])
    assert result.scores == pytest.approx([0.25] * 4)


def test_malicious_collective_gets_low_reputation():
    good, bad = list(range(6)), list(range(6, 10))
    records = [(i, j, 3, 0, VALIDATION) for i in good for j in good if i != j]
    records += [(i, j, 50, 0, PEER) for i in bad for j in bad if i != j]  # the collective praises itself
    records += [(i, j, 0, 2, VALIDATION) for i in good for j in bad]  # and serves the good agents badly
    records += [(i, j, 0, 1, VALIDATION) for i in bad for j in good]
    result = eigentrust(Interactions.from_records(records), pretrusted=[0])
    scores = result.as_dict()
    assert sum(scores[j] for j in bad) < 1e-9
    assert min(scores[i] for i in good) > 0.05


def test_deterministic():
    interactions = random_interactions(80, 500, seed=3)
    first = eigentrust(interactions, pretrusted=[1, 2])
    second = eigentrust(interactions, pretrusted=[1, 2])
    assert np.array_equal(first.scores, second.scores)
    assert first.iterations == second.iterations


def test_ids_need_not_be_dense_nor_integers():
    interactions = random_interactions(30, 200, seed=11)
    dense = eigentrust(interactions, pretrusted=[0, 1])
    spread = 10**12 + 7919 * interactions.rater, 10**12 + 7919 * interactions.ratee
    sparse_ids = eigentrust(
        Interactions(*spread, interactions.positive, interactions.negative, interactions.graph),
        pretrusted=[10**12, 10**12 + 7919],
    )
    names = np.array([f"agent-{k:03d}" for k in range(30)])
    named = eigentrust(
        Interactions(
            names[interactions.rater],
            names[interactions.ratee],
            interactions.positive,
            interactions.negative,
            interactions.graph,
        ),
        pretrusted=["agent-000", "agent-001"],
    )
    for k in range(30):
        assert sparse_ids.score(10**12 + 7919 * k) == pytest.approx(dense.score(k), abs=1e-12)
        assert named.score(f"agent-{k:03d}") == pytest.approx(dense.score(k), abs=1e-12)
    assert dense.score(999) == 0.0 and dense.index_of(999) is None


def test_empty_input_and_single_agent():
    empty = eigentrust(Interactions.empty())
    assert len(empty) == 0 and empty.iterations == 0 and empty.converged
    assert Interactions.from_records([]).rater.size == 0
    single = eigentrust(Interactions.from_records([(7, 7, 3, 0, PEER)]))
    assert single.as_dict() == {7: 1.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interactions": Interactions.from_records([(1, 2, 1, 0, "gossip")])}, "gossip"),
        ({"interactions": Interactions.from_records([(1, 2, 1, 0, PEER)]), "pretrusted": ["x"]}, "one kind"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(ReputationInputError, match=message):
        eigentrust(**kwargs)


def test_bad_counts_and_settings_are_refused():
    with pytest.raises(ReputationInputError):
        Interactions.from_records([(1, 2, -1, 0, PEER)])
    with pytest.raises(ReputationInputError):
        Interactions(np.arange(3), np.arange(2), np.ones(3), np.ones(3), np.array([PEER] * 3))
    with pytest.raises(ReputationInputError):
        EigenTrustConfig(weights={PEER: 0.0})
    with pytest.raises(ReputationInputError):
        EigenTrustConfig(alpha=1.5)


def test_contributions_add_up_to_the_score():
    result = eigentrust(random_interactions(40, 300, seed=5), pretrusted=[0, 1])
    for agent in (0, 7, 21):
        assert sum(result.contributions(agent).values()) == pytest.approx(result.score(agent), abs=1e-9)


def test_explain_names_the_dominant_contribution():
    base = [(1, 2, 1, 0, PEER), (1, 3, 1, 0, PEER), (2, 1, 1, 0, PEER), (3, 1, 1, 0, PEER)]
    config = EigenTrustConfig(weights={VALIDATION: 0.5, PEER: 0.5}, tolerance=1e-14)
    before = eigentrust(Interactions.from_records(base), pretrusted=[1], config=config)
    # Agent 2 now validates agent 3's work well: a new, large source of trust for 3.
    after = eigentrust(Interactions.from_records([*base, (2, 3, 5, 0, VALIDATION)]), pretrusted=[1], config=config)
    explanation = explain(before, after, 3)
    assert explanation.change > 0
    assert explanation.change == pytest.approx(sum(c.change for c in explanation.contributions), abs=1e-9)
    assert next(iter(explanation.by_graph)) == VALIDATION
    top = explanation.contributions[0]
    assert (top.graph, top.rater) == (VALIDATION, 2)
    assert "rose" in explanation.text
    assert "validation outcomes" in explanation.text
    assert "agent 2" in explanation.text
    assert "new source of trust" in explanation.text
    unchanged = explain(before, before, 3)
    assert "did not change" in str(unchanged)
    assert "no score" in explain(before, after, 42).text


SMALL = SimulationConfig(agents=30, pretrusted=2, rounds=5, tasks_per_round=40)


def test_threat_model_simulation_is_reproducible():
    assert threat_model_table(SMALL) == threat_model_table(SMALL)


@pytest.mark.parametrize("model", ["A", "B"])
def test_reputation_keeps_tasks_away_from_malicious_agents(model):
    uniform = simulate(model, weighted=False, config=SMALL)
    weighted = simulate(model, weighted=True, config=SMALL)
    assert weighted.malicious_share < uniform.malicious_share / 2
    assert weighted.bad_share < uniform.bad_share


def test_unknown_threat_model_is_refused():
    with pytest.raises(ValueError, match="threat model"):
        simulate("E", weighted=True, config=SMALL)

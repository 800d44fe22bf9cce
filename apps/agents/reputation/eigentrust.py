"""EigenTrust reputation of agents over several interaction graphs (pure computation).

Kamvar, Schlosser and Garcia-Molina, "The EigenTrust Algorithm for Reputation Management
in P2P Networks" (WWW 2003), with the pre-trusted peers of its section 4.5:

- every graph (validation outcomes, agreement with council verdicts, peer ratings) gives
  local trust ``s_ij = max(positive_ij - negative_ij, 0)``, summed over all interactions
  of the pair in that graph; self-ratings are ignored (nobody vouches for themselves);
- each row is normalised to ``c_ij = s_ij / sum_j s_ij``; a row with no outgoing trust
  (an agent that trusts nobody in that graph) is the pre-trusted distribution ``p``;
- the graphs are combined by weights (normalised to sum to 1), so ``C`` stays
  row-stochastic;
- ``t = (1 - alpha) C^T t + alpha p`` is iterated from ``t = p`` until the L1 change is
  below the tolerance, or the iteration cap is hit.

``p`` is uniform over the agents institutions certify, or over every agent when none is
certified (the paper's default). Nothing here touches the database: persistence and the
Celery task that recomputes scores come later and call :func:`eigentrust`.

Rows that fall back to ``p`` are never written into the matrix: their mass is added as
``p * (d . t)`` in each step, so a graph with 10,000 idle agents costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

VALIDATION = "validation"
COUNCIL = "council"
PEER = "peer"
DEFAULT_WEIGHTS: Mapping[str, float] = {VALIDATION: 0.5, COUNCIL: 0.3, PEER: 0.2}
GRAPH_LABELS: Mapping[str, str] = {
    VALIDATION: "validation outcomes",
    COUNCIL: "agreement with council verdicts",
    PEER: "peer ratings",
}

# A non-negative integer id space at most this many times the number of ids seen is
# mapped with a lookup table (linear time) instead of sorting every id.
_DENSE_ID_FACTOR = 16


class ReputationInputError(ValueError):
    """The interactions, weights or settings given to EigenTrust are malformed."""


@dataclass(frozen=True)
class EigenTrustConfig:
    """How EigenTrust combines the graphs and when it stops iterating."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    alpha: float = 0.15  # weight of the pre-trusted distribution in every step
    tolerance: float = 1e-10  # L1 change between two steps that counts as converged
    max_iterations: int = 500

    def __post_init__(self) -> None:
        if not self.weights:
            raise ReputationInputError("at least one graph needs a weight")
        if any(not np.isfinite(w) or w < 0 for w in self.weights.values()):
            raise ReputationInputError("graph weights must be finite and non-negative")
        if sum(self.weights.values()) <= 0:
            raise ReputationInputError("graph weights must not all be zero")
        if not 0.0 <= self.alpha <= 1.0:
            raise ReputationInputError("alpha must lie in [0, 1]")
        if self.tolerance <= 0 or self.max_iterations < 1:
            raise ReputationInputError("tolerance must be positive and max_iterations at least 1")

    def normalised_weights(self) -> dict[str, float]:
        total = float(sum(self.weights.values()))
        return {name: float(w) / total for name, w in sorted(self.weights.items())}


@dataclass(frozen=True)
class Interactions:
    """Interactions as parallel arrays: ``rater`` rated ``ratee`` in ``graph``.

    ``positive`` and ``negative`` count the good and bad outcomes of those interactions
    (a record may stand for one interaction or for an aggregate). Ids are any orderable
    scalars of one kind (ints or strings) and need not be dense.
    """

    rater: np.ndarray
    ratee: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    graph: np.ndarray

    def __post_init__(self) -> None:
        arrays = {name: np.asarray(getattr(self, name)) for name in ("rater", "ratee", "positive", "negative", "graph")}
        lengths = {a.shape for a in arrays.values()}
        if len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise ReputationInputError("rater, ratee, positive, negative and graph must be 1-d arrays of one length")
        for name in ("positive", "negative"):
            values = arrays[name].astype(np.float64, copy=False)
            if values.size and (not np.all(np.isfinite(values)) or values.min() < 0):
                raise ReputationInputError(f"{name} counts must be finite and non-negative")
            arrays[name] = values
        for name, value in arrays.items():
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(self.rater.shape[0])

    @classmethod
    def from_records(cls, records: Iterable[tuple[Any, Any, float, float, str]]) -> Interactions:
        """Build from ``(rater, ratee, positive, negative, graph)`` tuples."""
        rows = list(records)
        if not rows:
            return cls.empty()
        rater, ratee, positive, negative, graph = zip(*rows, strict=True)
        return cls(np.asarray(rater), np.asarray(ratee), np.asarray(positive), np.asarray(negative), np.asarray(graph))

    @classmethod
    def empty(cls) -> Interactions:
        nothing = np.empty(0, dtype=np.int64)
        return cls(nothing, nothing, np.empty(0), np.empty(0), np.empty(0, dtype=str))


@dataclass(frozen=True)
class _Graph:
    trust: sparse.csr_matrix  # c_ij of the rows that trust someone; other rows are empty
    dangling: np.ndarray  # bool per agent: the row falls back to p


@dataclass(frozen=True)
class Reputation:
    """EigenTrust scores: ``scores[k]`` belongs to ``agents[k]`` and they sum to 1."""

    agents: np.ndarray
    scores: np.ndarray
    iterations: int
    residual: float
    converged: bool
    pretrusted: np.ndarray  # p, per agent
    alpha: float
    weights: Mapping[str, float]
    graphs: Mapping[str, _Graph] = field(repr=False)

    def __len__(self) -> int:
        return int(self.agents.shape[0])

    def index_of(self, agent: Any) -> int | None:
        position = int(np.searchsorted(self.agents, agent))
        if position < len(self) and self.agents[position] == agent:
            return position
        return None

    def score(self, agent: Any) -> float:
        """The agent's score, 0.0 for an agent this computation never saw."""
        index = self.index_of(agent)
        return 0.0 if index is None else float(self.scores[index])

    def as_dict(self) -> dict[Any, float]:
        return {_plain(agent): float(s) for agent, s in zip(self.agents, self.scores, strict=True)}

    def contributions(self, agent: Any) -> dict[tuple[str, Any], float]:
        """What makes up the agent's score at the fixed point, summing to it.

        Keys are ``(graph, rater)`` for trust received over an edge, and
        ``("pre-trust", None)`` for ``alpha * p`` plus the rows that fell back to ``p``.
        """
        index = self.index_of(agent)
        if index is None:
            return {}
        result: dict[tuple[str, Any], float] = {}
        beta = 1.0 - self.alpha
        fallback = 0.0
        for name, graph in self.graphs.items():
            weight = self.weights[name]
            column = graph.trust[:, [index]].tocoo()
            for rater, share in zip(column.row, column.data, strict=True):
                result[(name, _plain(self.agents[rater]))] = beta * weight * float(share) * float(self.scores[rater])
            fallback += weight * float(self.scores[graph.dangling].sum())
        pre = float(self.pretrusted[index])
        result[("pre-trust", None)] = pre * (self.alpha + beta * fallback)
        return result

    def share(self, graph: str, rater: Any, ratee: Any) -> float:
        """c_ij: the part of ``rater``'s trust in ``graph`` that goes to ``ratee``."""
        i, j = self.index_of(rater), self.index_of(ratee)
        if i is None or j is None or graph not in self.graphs:
            return 0.0
        g = self.graphs[graph]
        if g.dangling[i]:
            return float(self.pretrusted[j])
        return float(g.trust[i, j])


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _map_ids(*groups: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sorted distinct ids of all groups, and each group as indices into them."""
    groups = tuple(np.asarray(g) for g in groups)
    non_empty = [g for g in groups if g.size]
    if not non_empty:
        return np.empty(0, dtype=np.int64), [np.empty(0, dtype=np.int64) for _ in groups]
    kinds = {"int" if g.dtype.kind in "iu" else "str" if g.dtype.kind in "USO" else g.dtype.kind for g in non_empty}
    if len(kinds) != 1:
        raise ReputationInputError("agent ids must all be of one kind (all ints or all strings)")
    if kinds == {"int"}:
        low = min(int(g.min()) for g in non_empty)
        high = max(int(g.max()) for g in non_empty)
        total = sum(g.size for g in non_empty)
        if low >= 0 and high < _DENSE_ID_FACTOR * total + 1024:
            # Lookup table: linear in the ids and the id space, no sort.
            seen = np.zeros(high + 1, dtype=bool)
            for g in non_empty:
                seen[g] = True
            agents = np.flatnonzero(seen).astype(np.int64)
            table = np.full(high + 1, -1, dtype=np.int64)
            table[agents] = np.arange(agents.size, dtype=np.int64)
            return agents, [table[g] if g.size else np.empty(0, dtype=np.int64) for g in groups]
    try:
        agents, inverse = np.unique(np.concatenate(non_empty), return_inverse=True)
    except TypeError as exc:
        raise ReputationInputError("agent ids must all be of one orderable kind (all ints or all strings)") from exc
    indices, start = [], 0
    for g in groups:
        indices.append(inverse[start : start + g.size].astype(np.int64, copy=False))
        start += g.size
    return agents, indices


def _graph_matrix(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int) -> _Graph:
    keep = rows != cols  # self-ratings carry no trust
    if not keep.all():
        rows, cols, values = rows[keep], cols[keep], values[keep]
    # COO -> CSR sums the records of each pair before clipping, as s_ij is defined.
    local = sparse.csr_matrix((values, (rows, cols)), shape=(n, n), dtype=np.float64)
    local.sum_duplicates()
    np.maximum(local.data, 0.0, out=local.data)
    local.eliminate_zeros()
    row_sums = np.asarray(local.sum(axis=1)).ravel()
    dangling = row_sums <= 0.0
    counts = np.diff(local.indptr)
    local.data /= np.repeat(np.where(dangling, 1.0, row_sums), counts)
    return _Graph(trust=local, dangling=dangling)


def eigentrust(
    interactions: Interactions,
    *,
    pretrusted: Iterable[Any] = (),
    agents: Sequence[Any] | np.ndarray = (),
    config: EigenTrustConfig | None = None,
) -> Reputation:
    """Global trust of every agent from their interactions, seeded by the pre-trusted ones.

    ``agents`` adds agents that have no interactions yet (they still get a score: the
    pre-trusted share, or nothing). Deterministic: the same input gives the same scores.

    Raises: ReputationInputError (unknown graph name, mixed id kinds, bad counts or settings).
    """
    config = config or EigenTrustConfig()
    weights = config.normalised_weights()
    pretrusted_ids = np.asarray(list(pretrusted) if not isinstance(pretrusted, np.ndarray) else pretrusted)
    extra = np.asarray(agents)
    ids, (raters, ratees, pre_index, _) = _map_ids(interactions.rater, interactions.ratee, pretrusted_ids, extra)
    n = int(ids.shape[0])

    graph_names = interactions.graph
    known = np.zeros(len(interactions), dtype=bool)
    masks: dict[str, np.ndarray] = {}
    for name in weights:
        masks[name] = graph_names == name
        known |= masks[name]
    if not known.all():
        unknown = sorted({str(g) for g in np.unique(graph_names[~known])})
        raise ReputationInputError(f"interactions in graphs without a weight: {', '.join(unknown)}")

    if n == 0:
        empty = np.empty(0)
        return Reputation(ids, empty, 0, 0.0, True, empty, config.alpha, weights, {})

    p = np.zeros(n)
    if pre_index.size:
        p[np.unique(pre_index)] = 1.0
    else:
        p[:] = 1.0
    p /= p.sum()

    net = interactions.positive - interactions.negative
    graphs: dict[str, _Graph] = {}
    combined: sparse.csr_matrix | None = None
    fallback = np.zeros(n)  # d_i: how much of row i falls back to p, over the weighted graphs
    for name, weight in weights.items():
        mask = masks[name]
        graph = _graph_matrix(raters[mask], ratees[mask], net[mask], n)
        graphs[name] = graph
        if weight > 0:
            weighted = graph.trust * weight
            combined = weighted if combined is None else combined + weighted
            fallback += weight * graph.dangling
    # t' = (1-a) C^T t + a p; the transpose as CSR makes each step one row-wise product.
    assert combined is not None  # the weights are validated: at least one is positive
    transposed = combined.T.tocsr()
    beta = 1.0 - config.alpha
    t = p.copy()
    residual = 0.0
    iterations = 0
    converged = False
    while iterations < config.max_iterations:
        iterations += 1
        following = transposed @ t
        following += p * float(fallback @ t)
        following *= beta
        following += config.alpha * p
        residual = float(np.abs(following - t).sum())
        t = following
        if residual < config.tolerance:
            converged = True
            break
    t /= t.sum()  # C is row-stochastic, so this only removes rounding drift
    return Reputation(
        agents=ids,
        scores=t,
        iterations=iterations,
        residual=residual,
        converged=converged,
        pretrusted=p,
        alpha=config.alpha,
        weights=weights,
        graphs=graphs,
    )


@dataclass(frozen=True)
class Contribution:
    """One source of an agent's change in score between two computations."""

    graph: str  # a graph name, or "pre-trust"
    rater: Any  # the agent whose trust flowed over the edge; None for pre-trust
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class Explanation:
    agent: Any
    before: float
    after: float
    by_graph: dict[str, float]  # change per graph ("pre-trust" included), largest first
    contributions: list[Contribution]  # per edge, largest absolute change first
    text: str

    @property
    def change(self) -> float:
        return self.after - self.before

    def __str__(self) -> str:
        return self.text


def _label(graph: str) -> str:
    if graph == "pre-trust":
        return "pre-trust (certification by institutions)"
    return GRAPH_LABELS.get(graph, f"the {graph} graph")


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def explain(before: Reputation, after: Reputation, agent: Any, *, top: int = 3) -> Explanation:
    """Say in plain language why ``agent``'s score moved from ``before`` to ``after``.

    At the fixed point an agent's score is exactly the sum of what flows to it over each
    edge (``(1-a) w_g c_ij t_i``) plus its pre-trust; the change is split the same way and
    the largest parts are named, with whether the rater's own standing or the share of
    its trust given to the agent moved.
    """
    old, new = before.contributions(agent), after.contributions(agent)
    contributions = [
        Contribution(graph=key[0], rater=key[1], before=old.get(key, 0.0), after=new.get(key, 0.0))
        for key in sorted(set(old) | set(new), key=lambda k: (k[0], str(k[1])))
    ]
    contributions.sort(key=lambda c: (-abs(c.change), c.graph, str(c.rater)))
    by_graph: dict[str, float] = {}
    for c in contributions:
        by_graph[c.graph] = by_graph.get(c.graph, 0.0) + c.change
    by_graph = dict(sorted(by_graph.items(), key=lambda item: (-abs(item[1]), item[0])))
    score_before, score_after = before.score(agent), after.score(agent)
    delta = score_after - score_before

    if before.index_of(agent) is None and after.index_of(agent) is None:
        text = f"Agent {agent} has no score in either computation."
    elif abs(delta) < 1e-12 and all(abs(c.change) < 1e-12 for c in contributions):
        text = f"Agent {agent}'s score did not change ({score_after:.3g})."
    else:
        direction = "rose" if delta > 0 else "fell" if delta < 0 else "stayed"
        parts = [f"Agent {agent}'s score {direction} from {score_before:.3g} to {score_after:.3g} ({delta:+.3g})."]
        main_graph, main_change = next(iter(by_graph.items()))
        if main_change * delta >= 0:
            parts.append(f"The largest part came from {_label(main_graph)} ({main_change:+.3g}).")
        else:
            parts.append(f"The largest move was in {_label(main_graph)} ({main_change:+.3g}), outweighed by the rest.")
        edges = [c for c in contributions if c.rater is not None and abs(c.change) > 0][:top]
        if edges:
            described = []
            for c in edges:
                reason = _edge_reason(before, after, c, agent)
                described.append(f"{_label(c.graph)} from agent {c.rater} ({c.change:+.3g}{reason})")
            parts.append("The edges that moved it most: " + "; ".join(described) + ".")
        others = [f"{_label(g)} {v:+.3g}" for g, v in list(by_graph.items())[1:] if abs(v) > 1e-12]
        if others:
            parts.append("Other sources: " + ", ".join(others) + ".")
        text = " ".join(parts)
    return Explanation(
        agent=agent,
        before=score_before,
        after=score_after,
        by_graph=by_graph,
        contributions=contributions,
        text=text,
    )


@dataclass(frozen=True)
class EdgeReason:
    """Why trust over one edge changed: `kind` is "new", "gone", "share" (the part of the
    rater's trust given to the agent moved) or "standing" (the rater's own score moved)."""

    kind: str
    before: float = 0.0
    after: float = 0.0


def edge_reason(before: Reputation, after: Reputation, c: Contribution, agent: Any) -> EdgeReason:
    if c.before == 0.0:
        return EdgeReason("new")
    if c.after == 0.0:
        return EdgeReason("gone")
    share_before, share_after = before.share(c.graph, c.rater, agent), after.share(c.graph, c.rater, agent)
    standing_before, standing_after = before.score(c.rater), after.score(c.rater)
    share_ratio = share_after / share_before if share_before else float("inf")
    standing_ratio = standing_after / standing_before if standing_before else float("inf")
    if abs(np.log(share_ratio)) >= abs(np.log(standing_ratio)):
        return EdgeReason("share", share_before, share_after)
    return EdgeReason("standing", standing_before, standing_after)


def _edge_reason(before: Reputation, after: Reputation, c: Contribution, agent: Any) -> str:
    reason = edge_reason(before, after, c, agent)
    if reason.kind == "new":
        return ": a new source of trust"
    if reason.kind == "gone":
        return ": this trust is gone"
    if reason.kind == "share":
        return f": its share of trust given to {agent} went from {_percent(reason.before)} to {_percent(reason.after)}"
    return f": its own score went from {reason.before:.3g} to {reason.after:.3g}"

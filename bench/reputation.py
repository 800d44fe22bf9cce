"""EigenTrust on one core at 10,000 agents and 1,000,000 interactions, and the threat models.

Builds a random interaction set (not timed): raters and ratees uniform over the agents,
0-4 positive and 0-2 negative outcomes per record, each record in one of the three graphs
(validation, council, peer), 50 pre-trusted agents. Then times `eigentrust()` end to end
(id mapping, the three sparse matrices, combining them, iterating to a 1e-10 L1 change)
several times and reports the median, then replays the paper's threat models A-D.

    .venv/bin/python bench/reputation.py [--agents 10000] [--interactions 1000000] [--repeat 5]

No database and no Django. The last line is `agents=N interactions=M seconds=S`.
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy or scipy load a BLAS or OpenMP runtime.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402 - the thread settings above must come first
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import scipy  # noqa: E402

from apps.agents.reputation import COUNCIL, PEER, VALIDATION, Interactions, eigentrust, explain  # noqa: E402
from apps.agents.reputation.simulation import SimulationConfig, format_table, threat_model_table  # noqa: E402


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def build(agents: int, interactions: int, seed: int) -> Interactions:
    rng = np.random.default_rng(seed)
    graphs = np.array([VALIDATION, COUNCIL, PEER])
    return Interactions(
        rater=rng.integers(0, agents, interactions),
        ratee=rng.integers(0, agents, interactions),
        positive=rng.integers(0, 5, interactions),
        negative=rng.integers(0, 3, interactions),
        graph=graphs[rng.integers(0, 3, interactions)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; the median is reported")
    parser.add_argument("--seed", type=int, default=2003)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    print(
        f"{os.cpu_count()} cores ({cpu_name()}), pinned to one; Python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}\n"
    )
    start = time.perf_counter()
    interactions = build(args.agents, args.interactions, args.seed)
    agent_ids = np.arange(args.agents)
    pretrusted = agent_ids[:: max(args.agents // 50, 1)][:50]
    build_seconds = time.perf_counter() - start
    print(f"build: {args.interactions:,} random interactions among {args.agents:,} agents in {build_seconds:.3f} s")

    runs = []
    result = None
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = eigentrust(interactions, pretrusted=pretrusted, agents=agent_ids)
        runs.append(time.perf_counter() - start)
    assert result is not None
    compute = statistics.median(runs)
    print(
        f"compute: eigentrust() median {compute:.3f} s over {args.repeat} runs "
        f"(min {min(runs):.3f}, max {max(runs):.3f}); {result.iterations} iterations, "
        f"residual {result.residual:.1e}, converged={result.converged}, sum={result.scores.sum():.12f}"
    )
    nnz = sum(g.trust.nnz for g in result.graphs.values())
    print(f"         {nnz:,} distinct trusting pairs across the three graphs")

    # explain() on the busiest agent, between this computation and one with 1% more interactions.
    extra = build(args.agents, args.interactions // 100, args.seed + 1)
    grown = Interactions(
        *(
            np.concatenate([getattr(interactions, f), getattr(extra, f)])
            for f in ("rater", "ratee", "positive", "negative", "graph")
        )
    )
    later = eigentrust(grown, pretrusted=pretrusted, agents=agent_ids)
    agent = int(agent_ids[np.argmax(np.abs(later.scores - result.scores))])
    start = time.perf_counter()
    explanation = explain(result, later, agent)
    print(f"explain: {time.perf_counter() - start:.3f} s for the agent whose score moved most")
    print(f"         {explanation.text}\n")

    sim = SimulationConfig()
    start = time.perf_counter()
    table = threat_model_table(sim)
    print(
        f"threat models: {sim.agents} agents, {sim.malicious:.0%} in the collective "
        f"({sim.spies:.0%} of it spies in D), {sim.pretrusted} pre-trusted, {sim.rounds} rounds x "
        f"{sim.tasks_per_round} tasks, {sim.bidders} bidders per task, alpha {sim.alpha}, seed {sim.seed} "
        f"({time.perf_counter() - start:.2f} s)"
    )
    print(format_table(table))
    print(f"agents={args.agents} interactions={args.interactions} seconds={compute:.3f}")


if __name__ == "__main__":
    main()

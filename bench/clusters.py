"""Cluster runs: runs per second and latency from submission to decision, one real worker.

    DJANGO_DEBUG=true .venv/bin/python bench/clusters.py [--runs N] [--stages S]

A five-stage cluster of honest `redteam`-engine agents (one per stage: the engine is cheap,
so this measures the cluster machinery: tasks, refusal checks, signing, validation,
reputation, the audit decision record). One Celery worker (solo pool, in this process,
an in-process memory:// broker). Latency: submissions one at a time, each waited for.
Throughput: N submissions at once, until the last is decided.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import Timer, bench_institution, database_url, ensure_database, machine, migrate, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--stages", type=int, default=5)
    args = parser.parse_args()
    url = database_url()
    ensure_database(url)
    setup_django(url)
    migrate()

    from celery.contrib.testing.worker import start_worker

    from apps.agents.clusters import redteam, services
    from apps.agents.models import ClusterRun, ClusterRunStatus
    from apps.tenancy.scope import institution_scope
    from portal.celery import app

    institution = bench_institution()
    stamp = int(time.time())
    agents = [redteam.make_agent(institution, None, f"Bench {stamp} {i}") for i in range(args.stages)]
    with institution_scope(institution):
        cluster = services.cluster_create(
            institution=institution,
            actor=None,
            name=f"Bench {stamp}",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
        )
    done = {ClusterRunStatus.DECIDED, ClusterRunStatus.FLAGGED, ClusterRunStatus.FAILED}

    def wait(run_ids: list[int]) -> None:
        while ClusterRun.all_institutions.filter(pk__in=run_ids).exclude(status__in=done).exists():
            time.sleep(0.002)

    def submit() -> int:
        with institution_scope(institution):
            return services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=None).pk

    print(machine())
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        for _ in range(5):  # warm-up
            wait([submit()])
        latencies = []
        for _ in range(args.runs):
            start = time.perf_counter()
            wait([submit()])
            latencies.append((time.perf_counter() - start) * 1000)
        with Timer() as timer:
            ids = [submit() for _ in range(args.runs)]
            wait(ids)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    statuses = set(ClusterRun.all_institutions.filter(cluster=cluster).values_list("status", flat=True))
    print(f"{args.stages}-stage cluster, {args.runs} runs, one worker (solo pool), statuses {sorted(statuses)}")
    print(f"latency submission->decision: p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms")
    print(f"throughput: {args.runs / timer.seconds:.1f} runs/s ({args.runs} submitted at once, {timer.seconds:.2f} s)")


if __name__ == "__main__":
    main()

"""Cluster runs: runs per second and latency from submission to decision, one real worker.

    DJANGO_DEBUG=true .venv/bin/python bench/clusters.py [--runs N] [--stages S] [--broker memory|redis]

A five-stage cluster of honest `redteam`-engine agents (one per stage: the engine is cheap,
so this measures the cluster machinery: tasks, refusal checks, signing, validation,
reputation, the audit decision record, the live-progress broadcasts). One Celery worker
with the solo pool:

- `--broker memory` (the default, embedded): the worker runs in this process on an
  in-process memory:// broker; in-memory channel layer.
- `--broker redis`: the worker is a separate `celery -A portal worker --pool solo
  --concurrency 1` process that this script starts (production settings, the same
  database) and stops at the end; broker, cache and channel layer on Redis (`REDIS_URL`,
  default redis://127.0.0.1:6379/15, a database the test suite does not use). Needs
  PostgreSQL (`DATABASE_URL`, default the benchmark's own database): the worker is
  another process.

Latency: submissions one at a time, each waited for. Throughput: N submissions at once,
until the last is decided.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager

from _common import (
    BenchError,
    Timer,
    bench_institution,
    database_url,
    ensure_database,
    machine,
    migrate,
    redacted,
    separate_worker,
    setup_django,
)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
WORKER_START_SECONDS = 60
RUN_SECONDS = 120  # a run not decided by then means the worker is stuck: stop, do not hang


@contextmanager
def in_process_worker():
    from celery.contrib.testing.worker import start_worker

    from portal.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield lambda: None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--stages", type=int, default=5)
    parser.add_argument("--broker", choices=["memory", "redis"], default="memory")
    args = parser.parse_args()
    url = database_url()
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    if args.broker == "redis":
        if not url.startswith(("postgres://", "postgresql://")):
            sys.exit("--broker redis needs DATABASE_URL on PostgreSQL: the worker is a separate process.")
        # before Django starts: settings put the cache and the channel layer on Redis too
        os.environ["REDIS_URL"] = redis_url
    ensure_database(url)
    setup_django(url)
    migrate()

    from apps.agents.clusters import redteam, services
    from apps.agents.models import ClusterRun, ClusterRunStatus
    from apps.tenancy.scope import institution_scope
    from portal.celery import app

    if args.broker == "redis":
        app.conf.broker_url = redis_url  # setup_django pointed Celery at memory://
        app.control.purge()  # tasks left over by an interrupted earlier run
        worker = separate_worker(db_url=url, redis_url=redis_url, name="clusters", include=("_clusters_worker",))
        where = f"separate process, broker {redacted(redis_url)}"
    else:
        worker = in_process_worker()
        where = "in this process, broker memory://"

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

    def wait(run_ids: list[int], alive: Callable[[], None], seconds: float = RUN_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while ClusterRun.all_institutions.filter(pk__in=run_ids).exclude(status__in=done).exists():
            alive()
            if time.monotonic() > deadline:
                raise BenchError(f"runs not decided after {seconds:.0f} s")
            time.sleep(0.002)

    def submit() -> int:
        with institution_scope(institution):
            return services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=None).pk

    print(machine())
    with worker as alive:
        wait([submit()], alive, WORKER_START_SECONDS)  # the worker's start-up, not measured
        for _ in range(5):  # warm-up
            wait([submit()], alive)
        latencies = []
        for _ in range(args.runs):
            start = time.perf_counter()
            wait([submit()], alive)
            latencies.append((time.perf_counter() - start) * 1000)
        with Timer() as timer:
            ids = [submit() for _ in range(args.runs)]
            wait(ids, alive, RUN_SECONDS + args.runs)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    statuses = set(ClusterRun.all_institutions.filter(cluster=cluster).values_list("status", flat=True))
    print(f"{args.stages}-stage cluster, {args.runs} runs, one worker (solo pool, {where})")
    print(f"statuses {sorted(statuses)}")
    print(f"latency submission->decision: p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms")
    print(f"throughput: {args.runs / timer.seconds:.1f} runs/s ({args.runs} submitted at once, {timer.seconds:.2f} s)")


if __name__ == "__main__":
    # `kill` (SIGTERM) unwinds like Ctrl-C, so that the worker this script started is stopped too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        main()
    except BenchError as error:
        sys.exit(f"bench/clusters.py: {error}")

"""Audit append throughput on PostgreSQL, then sequencing throughput.

Each writer is a process with its own connection that appends one event per short
transaction, as a domain write does (`with transaction.atomic(): ...; audit_append(...)`),
including the on-commit request for the sequencer. Scenarios: 1 writer, 4 writers, and
4 writers with a sequencer process running alongside (as the beat task does). After the
writers stop, the sequencer gives every pending event its position, and is timed.

    DJANGO_DEBUG=true .venv/bin/python bench/audit_append.py [--seconds 10]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/civitas_bench (created if missing).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common


def writer(url: str, writer_id: int, start_at: float, seconds: float, results) -> None:
    _common.setup_django(url)
    from django.db import connection, transaction

    from apps.audit.services import audit_append

    institution = _common.bench_institution()
    latencies: list[float] = []
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    n = 0
    while time.time() < deadline:
        began = time.perf_counter()
        with transaction.atomic():
            audit_append(
                institution=institution,
                actor=f"bench-writer-{writer_id}",
                action="bench.thing.update",
                target_type="bench.thing",
                target_id=str(n),
                changes={"writer": writer_id, "n": n, "status": "approved", "amount": "125.00"},
            )
        latencies.append(time.perf_counter() - began)
        n += 1
    connection.close()
    results.put((writer_id, n, latencies))


def sequencer_loop(url: str, start_at: float, seconds: float, results) -> None:
    """The beat task's job, run back to back (with a short pause) while the writers write."""
    _common.setup_django(url)
    from django.db import connection

    from apps.audit.services import audit_sequence

    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    sequenced = runs = 0
    while time.time() < deadline:
        sequenced += audit_sequence()
        runs += 1
        time.sleep(0.05)
    connection.close()
    results.put(("sequencer", sequenced, runs))


def run_scenario(url: str, *, writers: int, seconds: float, with_sequencer: bool) -> dict:
    from apps.audit.models import AuditEvent
    from apps.audit.services import audit_sequence, audit_tree_head_sign
    from apps.audit.verify import audit_log_verify

    _common.reset_log()
    from django.db import connection

    connection.close()  # no connection shared with the children

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    start_at = time.time() + 3.0  # time for every child to start Django
    procs = [ctx.Process(target=writer, args=(url, i, start_at, seconds, results)) for i in range(writers)]
    if with_sequencer:
        procs.append(ctx.Process(target=sequencer_loop, args=(url, start_at, seconds, results)))
    for p in procs:
        p.start()
    outcome = [results.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.terminate()
            raise SystemExit(f"a benchmark process (pid {p.pid}) did not finish")

    appended = sum(n for who, n, _ in outcome if who != "sequencer")
    latencies = sorted(x for who, _, lat in outcome if who != "sequencer" for x in lat)
    during = next((n for who, n, _ in outcome if who == "sequencer"), 0)

    pending = AuditEvent.objects.filter(sequence__isnull=True).count()
    with _common.Timer() as sequencing:
        sequenced = audit_sequence()
    assert sequenced == pending
    # Sanity, not timed: a gap-free log that verifies.
    positions = AuditEvent.objects.filter(sequence__isnull=False)
    assert positions.count() == appended
    assert list(positions.order_by("-sequence").values_list("sequence", flat=True)[:1]) == [appended - 1]
    audit_tree_head_sign(force=True)
    report = audit_log_verify()
    assert report.ok, report.findings[:5]

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "writers": writers,
        "with_sequencer": with_sequencer,
        "appended": appended,
        "append_per_s": appended / seconds,
        "latency_ms": (statistics.median(latencies) * 1000, pct(0.95), pct(0.99)),
        "sequenced_during": during,
        "sequenced_after": sequenced,
        "sequencing_s": sequencing.seconds,
        "sequencing_per_s": sequenced / sequencing.seconds if sequenced else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the writers write, per scenario")
    args = parser.parse_args()

    url = _common.database_url()
    _common.ensure_database(url)
    _common.setup_django(url)
    _common.migrate()
    _common.bench_institution()
    from apps.identity.services import node_signing_key

    node_signing_key()  # created once, outside the timed part
    print(f"machine:  {_common.machine()}")
    print(f"database: {url}")
    print(f"each scenario: writers append for {args.seconds:g} s, one event per transaction\n")
    header = (
        f"{'scenario':<28} {'appended':>9} {'append/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        f" {'seq. during':>11} {'seq. after':>10} {'seq. s':>7} {'seq./s':>8}"
    )
    print(header)
    print("-" * len(header))
    for writers, with_sequencer in [(1, False), (4, False), (4, True)]:
        r = run_scenario(url, writers=writers, seconds=args.seconds, with_sequencer=with_sequencer)
        name = f"{writers} writer{'s' if writers > 1 else ''}" + (" + sequencer running" if with_sequencer else "")
        p50, p95, p99 = r["latency_ms"]
        print(
            f"{name:<28} {r['appended']:>9} {r['append_per_s']:>9.0f} {p50:>7.2f} {p95:>7.2f} {p99:>7.2f}"
            f" {r['sequenced_during']:>11} {r['sequenced_after']:>10} {r['sequencing_s']:>7.2f}"
            f" {r['sequencing_per_s']:>8.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

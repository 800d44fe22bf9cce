"""BPM engine: process instances started and completed per second, one real worker on Redis.

    DJANGO_DEBUG=true .venv/bin/python bench/bpm.py [--instances 500 2000] [--sequential K]
    DJANGO_DEBUG=true .venv/bin/python bench/bpm.py --profile [--instances 200]

The process (bench/bpm.bpmn): start -> script task (fee, large) -> service task with the
shipped `notify` action (one in-app notification to one clerk: a row, its audit event and a
push on the Redis channel layer after commit) -> exclusive gateway -> one of two end events.

One Celery worker: a separate `celery -A portal worker --pool solo --concurrency 1` process
that this script starts (production settings, the same database) and stops at the end;
broker, cache and channel layer on Redis (`REDIS_URL`, default redis://127.0.0.1:6379/14, a
database neither the test suite nor bench/clusters.py uses). Needs PostgreSQL
(`DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/civitas_bench_bpm).

Measured, from the database's own timestamps:
- one at a time (K instances, each waited for): the service task's wait from ready (the
  ServiceCall row's `created_at`, stamped inside `instance_start`'s transaction) to done
  (its `finished_at`, stamped by the worker when the action returned), and from ready to
  the instance completed (the instance's `finished_at`, stamped when the worker saves the
  final state, in the same transaction);
- in bursts of N: `instance_start` called N times back to back in this process (started/s,
  while the worker is already consuming), then, from the first start to the last
  `finished_at`, instances completed/s end to end; the same waits, now including the queue.
- the worker's peak RSS (VmHWM) at the end.

`--profile` runs no worker: it profiles N `instance_start` calls, then N service calls run
in this process (`service_call_run`, what the Celery task calls), with cProfile, and prints
where the time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import resource
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from _common import (
    BenchError,
    Timer,
    bench_institution,
    ensure_database,
    machine,
    migrate,
    redacted,
    separate_worker,
    setup_django,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/civitas_bench_bpm"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
BPMN_FILE = Path(__file__).resolve().parent / "bpm.bpmn"
CLERK = "bench_clerk"  # the notify action's recipient, named in bench/bpm.bpmn
WORKER_START_SECONDS = 60
INSTANCE_SECONDS = 60  # one instance not done by then means the worker is stuck: stop, do not hang


def percentiles(values: list[float]) -> str:
    if not values:
        return "no values"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    p50, p95, p99 = statistics.median(ordered), at(0.95), at(0.99)
    return f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms"


def redis_version(redis_url: str) -> str:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return client.info("server")["redis_version"]
    finally:
        client.close()


def worker_memory(pid: int) -> str:
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    except OSError:
        return "unknown"
    return f"peak RSS {fields.get('VmHWM', '?')}, RSS now {fields.get('VmRSS', '?')}"


def prepare():
    """The institution, its clerk (the notify action's recipient) and the process's latest version."""
    from apps.bpm.models import ProcessDefinition, ProcessVersion
    from apps.bpm.services import definition_upload
    from apps.identity.models import User
    from apps.tenancy.models import Membership, Role
    from apps.tenancy.scope import institution_scope
    from portal.errors import Conflict

    institution = bench_institution()
    clerk, _ = User.objects.get_or_create(username=CLERK, defaults={"display_name": "Benchmark clerk"})
    Membership.objects.get_or_create(user=clerk, institution=institution, role=Role.CIVIL_SERVANT)
    with institution_scope(institution):
        with contextlib.suppress(Conflict):  # uploaded by an earlier run
            definition_upload(
                institution=institution, actor=None, file_name=BPMN_FILE.name, content=BPMN_FILE.read_bytes()
            )
        definition = ProcessDefinition.objects.get(key="bench_event_intake")
        version = ProcessVersion.objects.filter(definition=definition).order_by("-number").first()
    return institution, clerk, definition, version


def application(i: int) -> dict:
    # a third of the events are large: both branches of the gateway are taken
    return {"event": f"Street fair {i}", "crowd": 900 if i % 3 == 0 else 120 + i % 300}


def waits(instance_ids: list[int]) -> tuple[list[float], list[float]]:
    """Per instance, ms from its service task ready to done, and from ready to the instance completed."""
    from apps.bpm.models import ServiceCall

    # tenancy: the benchmark reads its own rows; one institution anyway
    rows = ServiceCall.all_institutions.filter(instance_id__in=instance_ids).values_list(
        "created_at", "finished_at", "instance__finished_at"
    )
    to_done, to_completed = [], []
    for created, finished, completed in rows:
        if finished is not None:
            to_done.append((finished - created).total_seconds() * 1000)
        if completed is not None:
            to_completed.append((completed - created).total_seconds() * 1000)
    return to_done, to_completed


def run_with_worker(args, *, url: str, redis_url: str) -> None:
    from django.core.cache import cache
    from django.db.models import Max, Min

    from apps.audit.services import SEQUENCE_PENDING_KEY
    from apps.bpm.models import InstanceEvent, InstanceStatus, ProcessInstance
    from apps.bpm.services import instance_start
    from apps.tenancy.scope import institution_scope
    from portal.celery import app

    app.conf.broker_url = redis_url  # setup_django pointed Celery at memory://
    app.control.purge()  # tasks left over by an interrupted earlier run
    cache.delete(SEQUENCE_PENDING_KEY)  # or the first sequencing request waits for its expiry
    institution, clerk, definition, version = prepare()

    def start(i: int) -> int:
        with institution_scope(institution):
            return instance_start(definition=definition, actor=clerk, data=application(i), version=version).pk

    def wait(ids: list[int], alive: Callable[[], None], seconds: float, pause: float) -> None:
        deadline = time.monotonic() + seconds
        # tenancy: the benchmark polls its own instances
        while ProcessInstance.all_institutions.filter(pk__in=ids, status=InstanceStatus.RUNNING).exists():
            alive()
            if time.monotonic() > deadline:
                raise BenchError(f"instances still running after {seconds:.0f} s")
            time.sleep(pause)

    print(f"{machine()}, Redis {redis_version(redis_url)}")
    print(f"one worker: separate process, solo pool, concurrency 1, broker {redacted(redis_url)}")
    with separate_worker(db_url=url, redis_url=redis_url, name="bpm") as alive:
        wait([start(0)], alive, WORKER_START_SECONDS, 0.01)  # the worker's start-up, not measured
        for i in range(10):  # warm-up
            wait([start(i)], alive, INSTANCE_SECONDS, 0.002)

        one_by_one, round_trips = [], []
        for i in range(args.sequential):
            with Timer() as timer:
                one_by_one.append(start(i))
                wait(one_by_one[-1:], alive, INSTANCE_SECONDS, 0.002)
            round_trips.append(timer.seconds * 1000)
        to_done, to_completed = waits(one_by_one)
        print(f"\none at a time, {args.sequential} instances:")
        print(f"  service task ready -> done:                 {percentiles(to_done)}")
        print(f"  service task ready -> instance completed:   {percentiles(to_completed)}")
        print(f"  instance_start called -> seen completed:    {percentiles(round_trips)}")

        for n in args.instances:
            with Timer() as total:
                t0 = time.time()
                with Timer() as starting:
                    ids = [start(i) for i in range(n)]
                wait(ids, alive, INSTANCE_SECONDS + n, 0.2)
            # tenancy: the benchmark reads its own instances
            batch = ProcessInstance.all_institutions.filter(pk__in=ids)
            span = batch.aggregate(first=Min("started_at"), last=Max("finished_at"))
            statuses = sorted(set(batch.values_list("status", flat=True)))
            events = InstanceEvent.all_institutions.filter(instance_id__in=ids).count()
            end_to_end = span["last"].timestamp() - t0
            to_done, to_completed = waits(ids)
            print(f"\nburst of {n} instances (statuses {statuses}, {events / n:.1f} instance events each):")
            print(f"  started:   {n / starting.seconds:.1f} instances/s ({starting.seconds:.2f} s in this process)")
            print(
                f"  completed: {n / end_to_end:.1f} instances/s end to end"
                f" ({end_to_end:.2f} s, first start to last completed)"
            )
            print(f"  service task ready -> done:                 {percentiles(to_done)}")
            print(f"  service task ready -> instance completed:   {percentiles(to_completed)}")
            print(f"  (waited {total.seconds:.1f} s in all, polling every 0.2 s)")
        print(f"\nworker: {worker_memory(alive.pid)}")  # type: ignore[attr-defined]
    print(f"this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} kB")


def profile(args) -> None:
    """No worker: the start and the service task's run, each under cProfile, in this process."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.audit.services import SEQUENCE_PENDING_KEY, audit_sequence
    from apps.bpm.models import ServiceCall
    from apps.bpm.services import instance_start, service_call_run
    from apps.tenancy.scope import institution_scope

    institution, clerk, definition, version = prepare()
    n = args.instances[0]
    print(f"{machine()}, Redis {redis_version(os.environ['REDIS_URL'])}")
    with institution_scope(institution):
        for i in range(10):  # warm-up: imports, caches, the first connection
            instance_start(definition=definition, actor=clerk, data=application(i), version=version)
        for call in ServiceCall.objects.filter(status="pending"):
            service_call_run(call=call)
        with CaptureQueriesContext(connection) as started:
            one = instance_start(definition=definition, actor=clerk, data=application(1), version=version)
        with CaptureQueriesContext(connection) as ran:
            service_call_run(call=ServiceCall.objects.get(instance=one))
        for label, captured in (("instance_start", started), ("service_call_run", ran)):
            kinds = Counter(query["sql"].split(None, 1)[0].upper() for query in captured.captured_queries)
            print(f"{label}: {len(captured)} queries ({', '.join(f'{n} {k}' for k, n in kinds.most_common())})")
        profiler = cProfile.Profile()
        ids = []
        with Timer() as timer:
            profiler.enable()
            for i in range(n):
                ids.append(instance_start(definition=definition, actor=clerk, data=application(i), version=version).pk)
            profiler.disable()
        report(f"{n} x instance_start", profiler, timer.seconds, n)
        calls = list(ServiceCall.objects.filter(instance_id__in=ids, status="pending"))
        profiler = cProfile.Profile()
        with Timer() as timer:
            profiler.enable()
            for call in calls:
                service_call_run(call=call)
            profiler.disable()
        title = f"{len(calls)} x service_call_run (notify, then the instance runs to its end)"
        report(title, profiler, timer.seconds, n)
    # the sequencing requests went to the in-process memory:// broker: sequence here, untimed
    audit_sequence()
    cache.delete(SEQUENCE_PENDING_KEY)


# (label, file fragment, function name): cumulative time of each, as a share of the whole
BUCKETS = [
    ("SpiffWorkflow: serialize the state (_save)", "serializer/workflow.py", "serialize_json"),
    ("SpiffWorkflow: deserialize the state (_workflow_load)", "serializer/workflow.py", "deserialize_json"),
    ("SpiffWorkflow: build from the stored spec (_workflow_new)", "bpm/services.py", "_workflow_new"),
    ("SpiffWorkflow: run the engine (do_engine_steps)", "bpmn/workflow.py", "do_engine_steps"),
    ("state column: UPDATE ... WHERE revision (jsonb)", "django/db/models/query.py", "update"),
    ("_record: InstanceEvent + audit_append, per step", "bpm/services.py", "_record"),
    ("  of which audit_append", "audit/services.py", "audit_append"),
    ("_sync_tasks (service call / work item rows)", "bpm/services.py", "_sync_tasks"),
    ("the notify action (row, audit event)", "bpm/actions_builtin.py", "notify"),
    ("on-commit: push, publish, sequencer request", "db/backends/base/base.py", "run_and_clear_commit_hooks"),
    ("COMMIT", "django/db/backends/base/base.py", "commit"),
    ("all SQL (cursor execute)", "django/db/backends/utils.py", "_execute"),
]


def report(title: str, profiler: cProfile.Profile, seconds: float, n: int) -> None:
    stats = pstats.Stats(profiler)
    print(f"\n{title}: {seconds:.2f} s wall, {seconds / n * 1000:.1f} ms each (under the profiler)")
    total = sum(row[2] for row in stats.stats.values())  # the sum of internal times: all profiled time
    for label, fragment, name in BUCKETS:
        cumulative = sum(
            row[3] for (file, _line, function), row in stats.stats.items() if function == name and fragment in file
        )
        print(f"  {label:<58} {cumulative:6.2f} s  {cumulative / total:5.1%}")
    stats.sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, nargs="+", default=[500, 2000], help="burst sizes")
    parser.add_argument("--sequential", type=int, default=100, help="instances one at a time, for the latency")
    parser.add_argument("--profile", action="store_true", help="no worker: cProfile the start and the service task")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/bpm.py needs DATABASE_URL on PostgreSQL: the worker is a separate process.")
    # before Django starts: settings put the cache and the channel layer on Redis too
    os.environ["REDIS_URL"] = redis_url
    ensure_database(url)
    setup_django(url)
    migrate()
    if args.profile:
        profile(args)
    else:
        run_with_worker(args, url=url, redis_url=redis_url)


if __name__ == "__main__":
    # `kill` (SIGTERM) unwinds like Ctrl-C, so that the worker this script started is stopped too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        main()
    except BenchError as error:
        sys.exit(f"bench/bpm.py: {error}")

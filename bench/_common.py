"""What the benchmarks share: their own PostgreSQL database, Django, a clean log, a separate Celery worker."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/civitas_bench"


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def ensure_database(url: str) -> None:
    """Create the benchmark database if it does not exist yet."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(url: str) -> None:
    """Configure and start Django on the benchmark database (in this process)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_DEBUG", "true")  # development defaults: no production secrets needed
    os.environ.setdefault("CIVITAS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django
    from django.conf import settings

    django.setup()
    # DEBUG would log every query in memory and time it: not what production pays.
    settings.DEBUG = False
    # Each commit asks Celery to run the sequencer, as in production; publish to an
    # in-process broker so the benchmark neither needs Redis nor fills var/broker.
    from portal.celery import app as celery_app

    celery_app.conf.broker_url = "memory://localhost/"
    celery_app.conf.task_always_eager = False


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def reset_log() -> None:
    """An empty log: no events, no tree heads, the head at size 0."""
    from django.db import connection

    from apps.audit.models import LogHead

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent, audit_signedtreehead RESTART IDENTITY")
    LogHead.objects.update_or_create(pk=1, defaults={"tree_size": 0, "compact_range": [], "root_hash": ""})


def bench_institution():
    from apps.tenancy.models import Institution, InstitutionKind

    institution, _ = Institution.objects.get_or_create(
        slug="bench", defaults={"name": "Benchmark city", "kind": InstitutionKind.MUNICIPALITY}
    )
    return institution


def machine() -> str:
    import platform

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, PostgreSQL {pg}"


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


class BenchError(RuntimeError):
    pass


def redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


@contextmanager
def separate_worker(*, db_url: str, redis_url: str, name: str, include: tuple[str, ...] = ()):
    """A `celery worker` process on Redis, in production mode (no query log), stopped on exit. Yields a
    check that raises BenchError once the worker has exited (its `pid` attribute is the worker's).
    `include`: modules of bench/ the worker imports too (a test engine, say)."""
    from django.conf import settings

    env = dict(
        os.environ,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        # the signing keys were sealed by this process: the worker must unseal them
        CIVITAS_MASTER_KEY=settings.CIVITAS_MASTER_KEY,
        CIVITAS_LOG_LEVEL="WARNING",
        CIVITAS_LOG_FORMAT="console",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "bench")]),
    )
    log_path = ROOT / "var" / f"bench-{name}-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        *[arg for module in include for arg in ("--include", module)],
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "WARNING",
        "--hostname",
        f"bench-{name}-{os.getpid()}@%h",
    ]
    with open(log_path, "wb") as log:
        # its own session: a Ctrl-C here reaches the script, which stops the worker itself
        worker = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:

            def alive() -> None:
                if worker.poll() is not None:
                    raise BenchError(f"the worker exited with {worker.returncode}; see {log_path}")

            alive.pid = worker.pid  # type: ignore[attr-defined]
            yield alive
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)  # warm shutdown: finishes the task under way
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()

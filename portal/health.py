"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means not ready; the reason is reported
        return False, type(exc).__name__
    return True, ""


def _broker_ok() -> tuple[bool, str]:
    from portal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # the broker is down or unreachable
        return False, type(exc).__name__
    return True, ""


@require_GET
@never_cache
def readyz(request):
    """The database and the Celery broker are reachable: 200, else 503 naming what is not."""
    checks = {}
    for name, check in (("database", _database_ok), ("broker", _broker_ok)):
        ok, reason = check()
        checks[name] = "ok" if ok else f"unavailable: {reason}"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    if settings.DEBUG:
        body["broker"] = "redis" if settings.REDIS_URL else "filesystem"
    return JsonResponse(body, status=200 if ready else 503)

"""Production refuses to start half-configured; security headers are on every page."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "x" * 64 + "-a-long-random-production-like-secret-value",
    "DJANGO_ALLOWED_HOSTS": "civitas.example.org",
    "DATABASE_URL": "postgres://civitas:secret@127.0.0.1:5432/civitas",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CIVITAS_MASTER_KEY": "ZGV2ZWxvcG1lbnQtb25seS1tYXN0ZXIta2V5LTMyYnk=",
}


def _manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CIVITAS_", "DATABASE_", "REDIS_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CIVITAS_MASTER_KEY"])
def test_production_stops_with_a_clear_message_when_a_secret_is_missing(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr
    assert "DJANGO_DEBUG" in result.stderr  # tells a developer how to run locally


def test_production_refuses_sqlite():
    result = _manage("check", env={**PRODUCTION_ENV, "DATABASE_URL": "sqlite:///tmp/x.sqlite3"})
    assert result.returncode != 0
    assert "PostgreSQL" in result.stderr


def test_production_settings_pass_the_deploy_check_without_warnings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr


@pytest.mark.django_db
def test_pages_carry_security_headers(client):
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_the_admin_logs_in_through_allauth(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readiness_reports_a_broker_that_is_down(client, settings, monkeypatch):
    from portal import health

    monkeypatch.setattr(health, "_broker_ok", lambda: (False, "OperationalError"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable: OperationalError"


@pytest.mark.django_db
def test_metrics_are_exported(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total" in response.content


def test_logs_are_json_lines():
    import json

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); import logging, structlog;"
            "structlog.get_logger('civitas').info('hello', institution='aurelia');"
            "logging.getLogger('django.request').warning('plain %s', 'stdlib')",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DJANGO_DEBUG": "true",
            "CIVITAS_LOG_LEVEL": "INFO",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert {"event": "hello", "institution": "aurelia", "level": "info"}.items() <= lines[0].items()
    assert lines[1]["event"] == "plain stdlib" and lines[1]["logger"] == "django.request"

"""Smoke tests of the node as a whole: the processes bin/run starts, the operations
endpoints, and a demo persona's way in (password, then TOTP for privileged roles).

`.ci/run` repeats the first part against real processes (daphne, worker, beat); these
run in-process so every `bin/test` covers them.
"""

from __future__ import annotations

import re
import shlex
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.tenancy.management.commands.seed_demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = shlex.split(command)
    return entries


def test_procfile_runs_web_worker_and_beat_once_each():
    processes = procfile()

    assert set(processes) == {"web", "worker", "beat"}
    assert processes["web"][0] == "daphne" and processes["web"][-1] == "portal.asgi:application"
    assert processes["worker"][:4] == ["celery", "--app", "portal", "worker"]
    assert processes["beat"][:4] == ["celery", "--app", "portal", "beat"]


def test_every_beat_task_is_registered_with_the_worker():
    from portal.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert scheduled, "beat has nothing to do"
    assert scheduled <= set(app.tasks), f"beat sends tasks no worker knows: {scheduled - set(app.tasks)}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/", "/healthz", "/readyz", "/metrics", "/accounts/login/", "/api/schema/", "/api/docs/"],
)
def test_public_pages_and_probes_answer(client, path):
    response = client.get(path)

    assert response.status_code == 200, (path, response.status_code)


@pytest.mark.django_db
def test_readiness_names_what_it_checked(client):
    body = client.get("/readyz").json()

    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "broker": "ok"}


@pytest.fixture
def demo(db, settings):
    settings.DEBUG = True  # pytest-django turns DEBUG off; seed_demo only seeds development nodes
    call_command("seed_demo", stdout=StringIO())
    settings.DEBUG = False


def test_a_demo_citizen_signs_in_with_the_documented_password(client, demo):
    response = client.post(reverse("account_login"), {"login": "clara", "password": DEMO_PASSWORD})

    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="identity.login", actor_label="clara").exists()
    dashboard = client.get("/", follow=True)
    assert dashboard.status_code == 200
    assert dashboard.redirect_chain and "/i/aurelia/" in dashboard.redirect_chain[-1][0]


def test_a_demo_auditor_needs_the_totp_code_demo_totp_prints(client, demo):
    response = client.post(reverse("account_login"), {"login": "audra", "password": DEMO_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert not AuditEvent.objects.filter(action="identity.login", actor_label="audra").exists()

    out = StringIO()
    call_command("demo_totp", "audra", stdout=out, stderr=StringIO())
    code = out.getvalue().strip()
    assert re.fullmatch(r"\d{6}", code)
    response = client.post(reverse("mfa_authenticate"), {"code": code})

    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="identity.login", actor_label="audra").exists()
    assert client.get("/").status_code in (200, 302)  # audra belongs to five institutions: she chooses


def test_the_readme_documents_every_environment_variable_the_settings_read():
    source = (ROOT / "portal" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    read = set(re.findall(r"""["']((?:DJANGO|CIVITAS)_[A-Z0-9_]+|DATABASE_URL|REDIS_URL)["']""", source))

    assert "DJANGO_SECRET_KEY" in read and "CIVITAS_MASTER_KEY" in read
    undocumented = sorted(name for name in read if f"`{name}`" not in readme)
    assert not undocumented, f"add these to README.md, 'Environment variables': {undocumented}"

"""The cross-institution sweep for OAuth2 tokens: a token of a Borealis client, with every
scope there is, gets 404 on every institution-scoped API route of Aurelia, with every
method, and changes nothing but the audit log's record of the refusals."""

from __future__ import annotations

import hashlib

import pytest
from django.apps import apps

from apps.audit.canonical import canonical_json, instance_state
from apps.audit.models import AuditEvent
from apps.identity.oauth.scopes import OIDC_SCOPES, scope_catalogue
from apps.identity.oauth.zero_trust import AuthFailureThrottle
from apps.identity.tests.oauth_helpers import basic_auth, machine_client
from tests import test_cross_institution as sweep
from tests.test_cross_institution import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def _fingerprint_outside_the_log() -> str:
    digest = hashlib.sha256()
    for model in sorted(apps.get_models(), key=lambda m: m._meta.label):
        if model._meta.app_label in {"sessions", "audit"} or not model._meta.managed:
            continue
        for row in model._base_manager.order_by("pk").iterator():
            digest.update(model._meta.label.encode())
            digest.update(canonical_json(instance_state(row)))
    return digest.hexdigest()


def test_a_token_of_another_institution_gets_404_on_every_api_route(world, client, monkeypatch):  # noqa: F811
    from portal.testing import member

    # Every refusal counts against the address; this test makes hundreds on purpose.
    monkeypatch.setattr(AuthFailureThrottle, "rate", "100000/min", raising=False)

    member(world.charlie, world.borealis, "institution_admin")
    every_api_scope = [s for s in scope_catalogue() if s not in OIDC_SCOPES]
    issued = machine_client(world.borealis, None, scopes=every_api_scope, name="Borealis everything")
    response = client.post(
        "/o/token/",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic_auth(issued.client.application.client_id, issued.client_secret),
    )
    token = response.json()["access_token"]
    routes = [(r, p, n) for r, p, n in sweep._scoped_routes() if r.startswith("api/")]
    assert any(n == "api-integrators" for _, _, n in routes)

    leaks = []
    refusals_before = AuditEvent.objects.filter(action="identity.api_forbidden").count()
    checked = 0
    # The makers create Aurelia's objects first; then nothing may change.
    paths = [(sweep._path_for(r, {p: sweep.OBJECT_MAKERS[p](world) for p in params}), n) for r, params, n in routes]
    before = _fingerprint_outside_the_log()
    for path, name in paths:
        for method in sweep.METHODS:
            answer = getattr(client, method)(
                path, data={}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
            )
            checked += 1
            if answer.status_code != 404:
                leaks.append(f"{method.upper()} {path} ({name}) -> {answer.status_code}")
    if _fingerprint_outside_the_log() != before:
        leaks.append("the database changed")
    assert not leaks, "Cross-institution leaks with an OAuth token:\n" + "\n".join(leaks)
    # Every refusal is on record.
    assert AuditEvent.objects.filter(action="identity.api_forbidden").count() - refusals_before == checked

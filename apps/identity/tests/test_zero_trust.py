"""Zero trust on the API: every authentication and authorization failure is audited
(without secrets) and too many failures from one address are refused with 429."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.identity.oauth.zero_trust import AuthFailureThrottle
from apps.identity.tests.oauth_helpers import basic_auth, machine_client
from portal.testing import api_as

pytestmark = pytest.mark.django_db


def failures(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_an_anonymous_call_is_audited(aurelia):
    response = APIClient().get(f"/api/v1/institutions/{aurelia.slug}/", HTTP_USER_AGENT="probe/1.0")

    assert response.status_code == 401
    [event] = failures("identity.api_auth_failed")
    assert event.actor_type == "anonymous"
    assert event.changes["path"] == f"/api/v1/institutions/{aurelia.slug}/"
    assert event.changes["method"] == "GET" and event.changes["status"] == 401
    assert event.changes["auth_scheme"] == "none" and event.changes["user_agent"] == "probe/1.0"


@pytest.mark.parametrize("scheme", ["Bearer", "Token"])
def test_a_forged_token_is_audited_without_its_value(aurelia, scheme):
    forged = "forged-credential-0123456789abcdef"
    response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"{scheme} {forged}")

    assert response.status_code == 401
    [event] = failures("identity.api_auth_failed")
    assert event.changes["auth_scheme"] == scheme
    assert forged not in str(event.changes)


def test_a_refusal_by_role_is_audited_with_the_actor(aurelia, bob):
    response = api_as(bob).get(f"/api/v1/institutions/{aurelia.slug}/members/")

    assert response.status_code == 403
    [event] = failures("identity.api_forbidden")
    assert event.actor_label == "bob"
    assert event.changes["error"] == "permission_denied"


def test_an_outsider_404_is_not_an_audit_event(aurelia, charlie):
    """Members of other institutions get plain 404s (the cross-institution sweep needs them
    to change nothing); only tokens used outside their binding are recorded."""
    assert api_as(charlie).get(f"/api/v1/institutions/{aurelia.slug}/").status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="identity.api_").exists()


def test_successes_are_not_audited_as_failures(aurelia, alice):
    assert api_as(alice).get(f"/api/v1/institutions/{aurelia.slug}/").status_code == 200
    assert not AuditEvent.objects.filter(action__startswith="identity.api_").exists()


def test_too_many_failures_from_one_address_are_refused_before_they_are_heard(client, aurelia, ada, monkeypatch):
    monkeypatch.setattr(AuthFailureThrottle, "rate", "3/min", raising=False)
    issued = machine_client(aurelia, ada)
    client_id = issued.client.application.client_id
    for _ in range(3):
        wrong = client.post(
            "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_auth(client_id, "guess")
        )
        assert wrong.status_code == 401

    # Even the right secret is refused now: the address has used up its failures.
    blocked = client.post(
        "/o/token/",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic_auth(client_id, issued.client_secret),
    )
    assert blocked.status_code == 429
    assert blocked["Content-Type"] == "application/problem+json"
    assert int(blocked["Retry-After"]) >= 1
    assert APIClient().get("/api/v1/me/").status_code == 429
    assert len(failures("identity.api_auth_failed")) == 3  # refusals unheard are not logged again
    # Pages outside the API are not affected.
    assert client.get("/accounts/login/").status_code == 200


def test_other_addresses_are_not_affected(aurelia, monkeypatch):
    monkeypatch.setattr(AuthFailureThrottle, "rate", "2/min", raising=False)
    for _ in range(2):
        APIClient(REMOTE_ADDR="10.0.0.1").get("/api/v1/me/")
    assert APIClient(REMOTE_ADDR="10.0.0.1").get("/api/v1/me/").status_code == 429
    assert APIClient(REMOTE_ADDR="10.0.0.2").get("/api/v1/me/").status_code == 401


def test_guessing_one_clients_secret_is_bounded_across_addresses(aurelia, ada, monkeypatch):
    monkeypatch.setattr(AuthFailureThrottle, "rate", "3/min", raising=False)
    issued = machine_client(aurelia, ada)
    client_id = issued.client.application.client_id
    for n in range(3):
        APIClient(REMOTE_ADDR=f"10.0.1.{n}").post(
            "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_auth(client_id, "guess")
        )
    response = APIClient(REMOTE_ADDR="10.0.1.99").post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_auth(client_id, "guess")
    )
    assert response.status_code == 429

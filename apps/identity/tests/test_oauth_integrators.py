"""Integrator clients: an institution admin registers, rotates and deletes them, in the UI
and the API; the secret is shown once and never logged."""

from __future__ import annotations

import pytest
from django.urls import reverse
from oauth2_provider.models import AccessToken, Application

from apps.audit.models import AuditEvent
from apps.identity.oauth.models import IntegratorClient
from apps.identity.oauth.services import integrator_client_create, redirect_uri_problem
from apps.identity.tests.oauth_helpers import basic_auth, machine_client, web_client
from apps.tenancy.models import Membership
from apps.tenancy.scope import institution_scope
from portal.errors import PermissionDenied, ValidationFailed
from portal.testing import api_as

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("https://app.example.org/callback", True),
        ("http://127.0.0.1:8080/cb", True),
        ("http://[::1]/cb", True),
        ("http://localhost:3000/cb", True),
        ("http://app.example.org/callback", False),
        ("https://app.example.org/cb#fragment", False),
        ("https://user:pw@app.example.org/cb", False),
        ("myapp://callback", False),
        ("/relative", False),
    ],
)
def test_redirect_uris_are_https_except_loopback(uri, ok):
    assert (redirect_uri_problem(uri) is None) is ok


def _create(aurelia, actor, **overrides):
    values = {
        "name": "App",
        "client_type": "confidential",
        "grant_type": "authorization-code",
        "redirect_uris": ["https://app.example.org/cb"],
        "scopes": ["openid", "tenancy:read"],
    }
    values.update(overrides)
    with institution_scope(aurelia):
        return integrator_client_create(institution=aurelia, actor=actor, **values)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"redirect_uris": ["http://app.example.org/cb"]}, "redirect_uris"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"grant_type": "client-credentials", "client_type": "public", "redirect_uris": []}, "client_type"),
        ({"grant_type": "client-credentials", "redirect_uris": [], "scopes": ["openid"]}, "scopes"),
        ({"scopes": ["everything"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"grant_type": "password"}, "grant_type"),
    ],
)
def test_invalid_registrations_change_nothing(aurelia, ada, overrides, field):
    with pytest.raises(ValidationFailed) as error:
        _create(aurelia, ada, **overrides)
    assert field in error.value.extra["errors"]
    assert not Application.objects.exists() and not IntegratorClient.all_institutions.exists()
    assert not AuditEvent.objects.filter(action__startswith="identity.integrator_client").exists()


def test_only_admins_register_clients(aurelia, alice):
    with pytest.raises(PermissionDenied):
        _create(aurelia, alice)
    assert not Application.objects.exists()


def test_registration_is_audited_without_the_secret(aurelia, ada):
    issued = _create(aurelia, ada)
    event = AuditEvent.objects.get(action="identity.integrator_client.create")
    assert event.institution == aurelia
    assert event.changes["client_id"] == issued.client.application.client_id
    assert issued.client_secret and issued.client_secret not in str(event.changes)
    # DOT keeps only a hash of the secret.
    assert issued.client.application.client_secret != issued.client_secret


# --- Web UI -------------------------------------------------------------------------------


def url(name, institution, **kwargs):
    return reverse(name, kwargs={"institution_slug": institution.slug, **kwargs})


def test_an_admin_registers_a_client_and_sees_the_secret_once(client, aurelia, ada):
    client.force_login(ada)
    assert client.get(url("integrators:list", aurelia)).status_code == 200

    response = client.post(
        url("integrators:list", aurelia),
        {
            "name": "Permit portal",
            "client_type": "confidential",
            "grant_type": "authorization-code",
            "redirect_uris": "https://permits.example.org/cb\nhttp://127.0.0.1:8000/cb",
            "scopes": ["openid", "profile", "tenancy:read"],
        },
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = response.context["client_secret"]
    assert secret and secret in response.content.decode()
    client_row = IntegratorClient.all_institutions.get()
    assert client_row.institution == aurelia and client_row.created_by == ada
    assert client_row.application.redirect_uris == "https://permits.example.org/cb http://127.0.0.1:8000/cb"
    listing = client.get(url("integrators:list", aurelia)).content.decode()
    detail = client.get(url("integrators:detail", aurelia, integrator_id=client_row.pk)).content.decode()
    assert "Permit portal" in listing and secret not in listing and secret not in detail


def test_a_bad_redirect_uri_is_shown_on_the_form(client, aurelia, ada):
    client.force_login(ada)
    response = client.post(
        url("integrators:list", aurelia),
        {
            "name": "Bad",
            "client_type": "confidential",
            "grant_type": "authorization-code",
            "redirect_uris": "http://bad.example.org/cb",
            "scopes": ["openid"],
        },
    )
    assert response.status_code == 400
    assert "must use https" in response.content.decode()
    assert not Application.objects.exists()


def test_rotating_the_secret_revokes_tokens(client, aurelia, ada):
    issued = machine_client(aurelia, ada)
    old_secret = issued.client_secret
    client_id = issued.client.application.client_id
    assert (
        client.post(
            "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_auth(client_id, old_secret)
        ).status_code
        == 200
    )
    client.force_login(ada)
    rotate = url("integrators:rotate", aurelia, integrator_id=issued.client.pk)
    assert client.get(rotate).status_code == 200

    response = client.post(rotate)

    assert response.status_code == 200
    new_secret = response.context["client_secret"]
    assert new_secret != old_secret
    assert not AccessToken.objects.exists()
    client.logout()
    assert (
        client.post(
            "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_auth(client_id, old_secret)
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_auth(client_id, new_secret)
        ).status_code
        == 200
    )
    event = AuditEvent.objects.get(action="identity.integrator_client.rotate_secret")
    assert new_secret not in str(event.changes) and event.changes["tokens_revoked"] == 1


def test_deleting_a_client_stops_its_tokens_and_disables_its_service_user(client, aurelia, ada):
    issued = machine_client(aurelia, ada)
    service_user = issued.client.service_user
    client_id = issued.client.application.client_id
    token = client.post(
        "/o/token/",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic_auth(client_id, issued.client_secret),
    ).json()["access_token"]
    client.force_login(ada)
    delete = url("integrators:delete", aurelia, integrator_id=issued.client.pk)
    assert client.get(delete).status_code == 200

    response = client.post(delete)

    assert response.status_code == 302
    assert not Application.objects.filter(client_id=client_id).exists()
    service_user.refresh_from_db()
    assert not service_user.is_active
    assert not Membership.objects.filter(user=service_user).exists()
    client.logout()
    assert client.get(f"/api/v1/institutions/{aurelia.slug}/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert AuditEvent.objects.filter(action="identity.integrator_client.delete").count() == 1


@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_non_admins_get_403_and_nothing_changes(client, request, persona, aurelia, ada):
    issued = web_client(aurelia, ada)
    client.force_login(request.getfixturevalue(persona))
    before = (Application.objects.count(), AuditEvent.objects.count())
    assert client.get(url("integrators:list", aurelia)).status_code == 403
    assert client.post(url("integrators:list", aurelia), {"name": "x"}).status_code == 403
    assert client.post(url("integrators:rotate", aurelia, integrator_id=issued.client.pk)).status_code == 403
    assert client.post(url("integrators:delete", aurelia, integrator_id=issued.client.pk)).status_code == 403
    assert (Application.objects.count(), AuditEvent.objects.count()) == before


def test_charlie_gets_404(client, aurelia, ada, charlie):
    issued = web_client(aurelia, ada)
    client.force_login(charlie)
    assert client.get(url("integrators:list", aurelia)).status_code == 404
    assert client.post(url("integrators:delete", aurelia, integrator_id=issued.client.pk)).status_code == 404
    assert Application.objects.count() == 1


def test_the_nav_links_to_integrators_for_admins(client, aurelia, ada):
    client.force_login(ada)
    page = client.get(url("tenancy:dashboard", aurelia)).content.decode()
    assert url("integrators:list", aurelia) in page


# --- API ------------------------------------------------------------------------------------


def test_the_api_registers_lists_rotates_and_deletes(aurelia, ada):
    api = api_as(ada)
    base = f"/api/v1/institutions/{aurelia.slug}/integrators/"

    created = api.post(
        base,
        {
            "name": "ETL",
            "client_type": "confidential",
            "grant_type": "client-credentials",
            "scopes": ["tenancy:read"],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["client_secret"] and body["service_user"].startswith("client-")
    assert created["Cache-Control"] == "no-store"

    listing = api.get(base).json()
    assert [c["client_id"] for c in listing] == [body["client_id"]]
    assert "client_secret" not in listing[0]

    rotated = api.post(f"{base}{body['id']}/rotate-secret/")
    assert rotated.status_code == 200 and rotated.json()["client_secret"] != body["client_secret"]

    assert api.delete(f"{base}{body['id']}/").status_code == 204
    assert api.get(f"{base}{body['id']}/").status_code == 404


def test_the_api_refuses_bad_input_with_a_problem(aurelia, ada):
    response = api_as(ada).post(
        f"/api/v1/institutions/{aurelia.slug}/integrators/",
        {
            "name": "Web",
            "client_type": "public",
            "grant_type": "authorization-code",
            "redirect_uris": ["http://example.org/cb"],
            "scopes": ["openid"],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "redirect_uris" in response.json()["errors"]
    assert not Application.objects.exists()


def test_the_api_is_for_admins_only(aurelia, alice):
    assert api_as(alice).get(f"/api/v1/institutions/{aurelia.slug}/integrators/").status_code == 403


def test_the_list_has_a_fixed_number_of_queries(aurelia, ada, django_assert_max_num_queries):
    for n in range(5):
        machine_client(aurelia, ada, name=f"Client {n}")
    with django_assert_max_num_queries(12):
        assert len(api_as(ada).get(f"/api/v1/institutions/{aurelia.slug}/integrators/").json()) == 5

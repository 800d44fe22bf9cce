"""The OAuth2/OIDC provider through Django's test client: grants, binding to the client's
institution, scopes, discovery, introspection, revocation. The same flows against a real
server with a real client library are in test_oauth_live.py."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken

from apps.audit.models import AuditEvent
from apps.identity.tests.oauth_helpers import LOOPBACK_CALLBACK, basic_auth, machine_client, pkce_pair, web_client
from apps.tenancy.models import Membership, Role

pytestmark = pytest.mark.django_db


def client_credentials_token(client, issued, scope=None):
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    return client.post(
        "/o/token/",
        data,
        HTTP_AUTHORIZATION=basic_auth(issued.client.application.client_id, issued.client_secret),
    )


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --- Client credentials -----------------------------------------------------------------


def test_a_machine_client_gets_a_short_lived_token_for_its_institution_only(client, aurelia, borealis, ada, charlie):
    issued = machine_client(aurelia, ada)
    response = client_credentials_token(client, issued)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["expires_in"] == 600 and body["scope"] == "tenancy:read"
    assert "refresh_token" not in body
    token = body["access_token"]

    ok = client.get(f"/api/v1/institutions/{aurelia.slug}/", **bearer(token))
    assert ok.status_code == 200
    assert ok.json()["my_roles"] == [Role.INTEGRATOR]

    before = AuditEvent.objects.filter(action="identity.api_forbidden").count()
    other = client.get(f"/api/v1/institutions/{borealis.slug}/", **bearer(token))
    assert other.status_code == 404
    assert other.json()["code"] == "not_found"
    refusal = AuditEvent.objects.filter(action="identity.api_forbidden").order_by("-id").first()
    assert AuditEvent.objects.filter(action="identity.api_forbidden").count() == before + 1
    assert refusal.changes["client_id"] == issued.client.application.client_id
    assert refusal.changes["error"] == "institution_binding"
    assert token not in str(refusal.changes)


def test_the_machine_acts_as_its_service_user_an_integrator_member(client, aurelia, ada):
    issued = machine_client(aurelia, ada)
    value = client_credentials_token(client, issued).json()["access_token"]
    token = AccessToken.objects.get(token_checksum=hashlib.sha256(value.encode()).hexdigest())
    service_user = issued.client.service_user
    assert token.user == service_user
    assert Membership.objects.filter(user=service_user, institution=aurelia, role=Role.INTEGRATOR).exists()
    assert not service_user.has_usable_password()


def test_an_api_route_needs_the_scope_of_its_app(client, aurelia, ada):
    issued = machine_client(aurelia, ada, scopes=("audit:read",))
    token = client_credentials_token(client, issued).json()["access_token"]

    response = client.get(f"/api/v1/institutions/{aurelia.slug}/", **bearer(token))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert response.json()["required_scope"] == "tenancy:read"


def test_roles_still_apply_to_tokens(client, aurelia, ada):
    issued = machine_client(aurelia, ada, scopes=("tenancy:read",))
    token = client_credentials_token(client, issued).json()["access_token"]

    response = client.get(f"/api/v1/institutions/{aurelia.slug}/members/", **bearer(token))

    assert response.status_code == 403  # an integrator is not an administrator


def test_a_client_cannot_ask_for_scopes_it_was_not_allowed(client, aurelia, ada):
    issued = machine_client(aurelia, ada, scopes=("tenancy:read",))

    response = client_credentials_token(client, issued, scope="tenancy:read audit:read")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_a_wrong_secret_is_401_and_audited_without_the_secret(client, aurelia, ada):
    issued = machine_client(aurelia, ada)
    client_id = issued.client.application.client_id

    response = client.post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_auth(client_id, "not-the-secret")
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    event = AuditEvent.objects.get(action="identity.api_auth_failed")
    assert event.changes["client_id"] == client_id
    assert event.changes["path"] == "/o/token/" and event.changes["error"] == "invalid_client"
    assert "not-the-secret" not in str(event.changes) and issued.client_secret not in str(event.changes)


def test_an_expired_token_is_refused(client, aurelia, ada):
    issued = machine_client(aurelia, ada)
    token = client_credentials_token(client, issued).json()["access_token"]
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))

    response = client.get(f"/api/v1/institutions/{aurelia.slug}/", **bearer(token))

    assert response.status_code == 401
    assert AuditEvent.objects.filter(action="identity.api_auth_failed").exists()


def test_token_lifetime_follows_the_setting(client, aurelia, ada):
    issued = machine_client(aurelia, ada)
    client_credentials_token(client, issued)
    token = AccessToken.objects.get()
    lifetime = (token.expires - timezone.now()).total_seconds()
    assert 590 < lifetime <= 600


def test_tokens_are_stored_only_as_checksums(client, aurelia, ada):
    issued = machine_client(aurelia, ada)
    value = client_credentials_token(client, issued).json()["access_token"]
    token = AccessToken.objects.get()
    assert token.token == "" and value not in token.token_checksum


def test_issued_tokens_are_audited_without_their_value(client, aurelia, ada):
    issued = machine_client(aurelia, ada)
    value = client_credentials_token(client, issued).json()["access_token"]
    event = AuditEvent.objects.get(action="identity.oauth_token.issue")
    assert event.institution == aurelia
    assert event.changes["grant_type"] == "client_credentials"
    assert value not in str(event.changes)


# --- Authorization code with PKCE -------------------------------------------------------


def authorize_params(issued, challenge=None, **extra):
    params = {
        "response_type": "code",
        "client_id": issued.client.application.client_id,
        "redirect_uri": LOOPBACK_CALLBACK,
        "scope": "openid profile tenancy:read",
        "state": "xyz",
        "nonce": "n-0S6",
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def consent(client, issued, challenge):
    page = client.get("/o/authorize/", authorize_params(issued, challenge))
    assert page.status_code == 200, page.content
    # The consent form carries the request in hidden fields, as a browser would post them back.
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    data["allow"] = "Authorize"
    return client.post("/o/authorize/", data)


def test_authorization_code_with_pkce_for_a_member(client, aurelia, borealis, ada, alice):
    issued = web_client(aurelia, ada)
    verifier, challenge = pkce_pair()
    client.force_login(alice)

    redirect = consent(client, issued, challenge)
    assert redirect.status_code == 302
    location = urlsplit(redirect["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == LOOPBACK_CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]

    client.logout()
    response = client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": LOOPBACK_CALLBACK,
            "code_verifier": verifier,
        },
        HTTP_AUTHORIZATION=basic_auth(issued.client.application.client_id, issued.client_secret),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"access_token", "refresh_token", "id_token"} <= set(body)
    token = body["access_token"]
    me = client.get(f"/api/v1/institutions/{aurelia.slug}/", **bearer(token))
    assert me.status_code == 200 and me.json()["my_roles"] == [Role.CIVIL_SERVANT]
    assert client.get(f"/api/v1/institutions/{borealis.slug}/", **bearer(token)).status_code == 404

    userinfo = client.get("/o/userinfo/", **bearer(token)).json()
    assert userinfo["sub"] == str(alice.pk)
    assert userinfo["preferred_username"] == "alice"
    assert userinfo["civitas_institution"] == "aurelia"
    assert "email" not in userinfo  # the email scope was not asked for


def test_pkce_is_required(client, aurelia, ada, alice):
    issued = web_client(aurelia, ada)
    client.force_login(alice)

    response = client.get("/o/authorize/", authorize_params(issued))

    assert response.status_code == 302
    assert "error=invalid_request" in response["Location"]
    assert "code=" not in response["Location"]


def test_a_person_outside_the_institution_cannot_authorize_its_client(client, aurelia, ada, charlie):
    issued = web_client(aurelia, ada)
    _verifier, challenge = pkce_pair()
    client.force_login(charlie)

    response = client.get("/o/authorize/", authorize_params(issued, challenge))

    assert response.status_code == 403
    assert b"not a member" in response.content
    assert AuditEvent.objects.filter(action="identity.oauth_authorize_refused").exists()


def test_an_unregistered_redirect_uri_is_refused_without_redirecting(client, aurelia, ada, alice):
    issued = web_client(aurelia, ada)
    _verifier, challenge = pkce_pair()
    client.force_login(alice)

    response = client.get(
        "/o/authorize/", authorize_params(issued, challenge, redirect_uri="https://evil.example/callback")
    )

    assert response.status_code == 400
    assert "Location" not in response
    event = AuditEvent.objects.get(action="identity.oauth_authorize_refused")
    assert event.changes["client_id"] == issued.client.application.client_id


def test_anonymous_people_are_sent_to_log_in_first(client, aurelia, ada):
    issued = web_client(aurelia, ada)
    _verifier, challenge = pkce_pair()
    response = client.get("/o/authorize/", authorize_params(issued, challenge))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- Discovery, JWKS, introspection, revocation ----------------------------------------


def test_discovery_and_jwks(client):
    config = client.get("/.well-known/openid-configuration").json()
    assert config["issuer"] == "http://testserver"
    assert config["authorization_endpoint"] == "http://testserver/o/authorize/"
    assert config["token_endpoint"] == "http://testserver/o/token/"
    assert config["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert config["response_types_supported"] == ["code"]
    assert "RS256" in config["id_token_signing_alg_values_supported"]
    assert {"openid", "tenancy:read", "audit:read"} <= set(config["scopes_supported"])
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert keys and keys[0]["kty"] == "RSA" and "d" not in keys[0]


def test_introspection_is_limited_to_the_callers_institution(client, aurelia, borealis, ada, charlie):
    from portal.testing import member

    issued = machine_client(aurelia, ada)
    token = client_credentials_token(client, issued).json()["access_token"]
    member(charlie, borealis, Role.INSTITUTION_ADMIN)
    foreign = machine_client(borealis, None, name="Borealis sync")
    own_peer = machine_client(aurelia, ada, name="Aurelia monitor")

    mine = client.post(
        "/o/introspect/",
        {"token": token},
        HTTP_AUTHORIZATION=basic_auth(own_peer.client.application.client_id, own_peer.client_secret),
    ).json()
    assert mine["active"] is True and mine["client_id"] == issued.client.application.client_id
    assert mine["civitas_institution"] == "aurelia" and mine["scope"] == "tenancy:read"

    theirs = client.post(
        "/o/introspect/",
        {"token": token},
        HTTP_AUTHORIZATION=basic_auth(foreign.client.application.client_id, foreign.client_secret),
    ).json()
    assert theirs == {"active": False}


def test_revocation(client, aurelia, ada):
    issued = machine_client(aurelia, ada)
    token = client_credentials_token(client, issued).json()["access_token"]

    response = client.post(
        "/o/revoke_token/",
        {"token": token},
        HTTP_AUTHORIZATION=basic_auth(issued.client.application.client_id, issued.client_secret),
    )

    assert response.status_code == 200
    assert client.get(f"/api/v1/institutions/{aurelia.slug}/", **bearer(token)).status_code == 401


def test_knox_tokens_and_sessions_still_work(client, aurelia, alice):
    from knox.models import AuthToken

    _instance, token = AuthToken.objects.create(user=alice)
    assert client.get(f"/api/v1/institutions/{aurelia.slug}/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    client.force_login(alice)
    assert client.get(f"/api/v1/institutions/{aurelia.slug}/").status_code == 200


def test_the_consent_page_lets_the_browser_follow_the_redirect(client, aurelia, ada, alice):
    """CSP form-action also governs the redirect after the consent form is posted."""
    issued = web_client(aurelia, ada)
    _verifier, challenge = pkce_pair()
    client.force_login(alice)

    page = client.get("/o/authorize/", authorize_params(issued, challenge))

    form_action = next(d for d in page["Content-Security-Policy"].split(";") if "form-action" in d)
    assert "'self'" in form_action and "http://127.0.0.1:8765" in form_action


@pytest.mark.parametrize("path", ["/api/v1/me/", "/api/v1/institutions/"])
def test_tokens_are_not_heard_outside_institution_routes(client, aurelia, ada, path):
    """They would tell a client of one institution about the person's other institutions."""
    issued = machine_client(aurelia, ada)
    token = client_credentials_token(client, issued).json()["access_token"]

    assert client.get(path, **bearer(token)).status_code == 401


def test_a_refresh_token_rotates_and_is_bound_like_the_access_token(client, aurelia, borealis, ada, alice):
    issued = web_client(aurelia, ada)
    verifier, challenge = pkce_pair()
    client.force_login(alice)
    code = parse_qs(urlsplit(consent(client, issued, challenge)["Location"]).query)["code"][0]
    client.logout()
    auth = basic_auth(issued.client.application.client_id, issued.client_secret)
    first = client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": LOOPBACK_CALLBACK,
            "code_verifier": verifier,
        },
        HTTP_AUTHORIZATION=auth,
    ).json()

    refreshed = client.post(
        "/o/token/", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, HTTP_AUTHORIZATION=auth
    )

    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(f"/api/v1/institutions/{aurelia.slug}/", **bearer(second["access_token"])).status_code == 200
    assert client.get(f"/api/v1/institutions/{borealis.slug}/", **bearer(second["access_token"])).status_code == 404
    # The code is single-use.
    again = client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": LOOPBACK_CALLBACK,
            "code_verifier": verifier,
        },
        HTTP_AUTHORIZATION=auth,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_public_client_proves_itself_with_pkce_alone(client, aurelia, ada, alice):
    from apps.identity.oauth.services import integrator_client_create
    from apps.tenancy.scope import institution_scope

    with institution_scope(aurelia):
        issued = integrator_client_create(
            institution=aurelia,
            actor=ada,
            name="Mobile app",
            client_type="public",
            grant_type="authorization-code",
            redirect_uris=[LOOPBACK_CALLBACK],
            scopes=["openid", "profile", "tenancy:read"],
        )
    assert issued.client_secret == ""
    verifier, challenge = pkce_pair()
    client.force_login(alice)
    code = parse_qs(urlsplit(consent(client, issued, challenge)["Location"]).query)["code"][0]
    client.logout()
    token_request = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": LOOPBACK_CALLBACK,
        "client_id": issued.client.application.client_id,
    }

    wrong = client.post("/o/token/", {**token_request, "code_verifier": pkce_pair()[0]})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"

    verifier, challenge = pkce_pair()
    client.force_login(alice)
    code = parse_qs(urlsplit(consent(client, issued, challenge)["Location"]).query)["code"][0]
    client.logout()
    response = client.post("/o/token/", {**token_request, "code": code, "code_verifier": verifier})
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert client.get(f"/api/v1/institutions/{aurelia.slug}/", **bearer(token)).status_code == 200

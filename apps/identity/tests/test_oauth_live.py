"""End to end against a running server on loopback, with authlib as a real OAuth2 client:
a person signs in through the login form, consents, and the client exchanges the code
with PKCE; a machine client uses client credentials. Tokens work on their institution's
API (200), not on another's (404), and the ID token verifies against the JWKS."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
import requests
from allauth.account.models import EmailAddress
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from apps.audit.models import AuditEvent
from apps.identity.tests.oauth_helpers import LOOPBACK_CALLBACK, machine_client, web_client
from portal.testing import TEST_PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def hidden_fields(html: str) -> dict[str, str]:
    import html as html_lib

    return {name: html_lib.unescape(value) for name, value in HIDDEN_INPUT.findall(html)}


def log_in(browser: requests.Session, base: str, username: str, next_url: str) -> requests.Response:
    """Post the real login form, as a browser would, and land on `next_url`."""
    login_url = urljoin(base, "/accounts/login/")
    page = browser.get(login_url, params={"next": next_url})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return browser.post(
        login_url,
        data={"csrfmiddlewaretoken": token, "login": username, "password": TEST_PASSWORD, "next": next_url},
        headers={"Referer": login_url},
    )


@pytest.fixture
def insecure_transport(monkeypatch):
    # The live server speaks plain http on loopback; authlib refuses that unless told.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def test_authorization_code_with_pkce_end_to_end(live_server, insecure_transport, aurelia, borealis, ada, alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    issued = web_client(aurelia, ada)
    client_id = issued.client.application.client_id
    base = live_server.url
    config = requests.get(urljoin(base, "/.well-known/openid-configuration"), timeout=10).json()
    assert config["issuer"] == base

    oauth = OAuth2Session(
        client_id,
        issued.client_secret,
        scope="openid profile email tenancy:read",
        redirect_uri=LOOPBACK_CALLBACK,
        code_challenge_method="S256",
    )
    verifier = "v" * 20 + "-live-server-pkce-verifier-0123456789"
    authorize_url, _state = oauth.create_authorization_url(
        config["authorization_endpoint"], code_verifier=verifier, nonce="live-nonce"
    )
    assert f"code_challenge={create_s256_code_challenge(verifier)}" in authorize_url

    browser = requests.Session()
    consent_page = log_in(browser, base, "alice", authorize_url.removeprefix(base))
    assert consent_page.status_code == 200 and "Allow" in consent_page.text, consent_page.text[:500]
    form = hidden_fields(consent_page.text)
    form["allow"] = "Authorize"
    redirect = browser.post(
        urljoin(base, "/o/authorize/"), data=form, allow_redirects=False, headers={"Referer": consent_page.url}
    )
    assert redirect.status_code == 302, redirect.text[:500]
    callback = redirect.headers["Location"]
    assert callback.startswith(LOOPBACK_CALLBACK + "?")

    token = oauth.fetch_token(config["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 600

    assert oauth.get(urljoin(base, f"/api/v1/institutions/{aurelia.slug}/")).status_code == 200
    other = oauth.get(urljoin(base, f"/api/v1/institutions/{borealis.slug}/"))
    assert other.status_code == 404 and other.json()["code"] == "not_found"

    # authlib's JOSE successor (joserfc, same authors; authlib.jose is deprecated).
    jwks = KeySet.import_key_set(requests.get(config["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], jwks, algorithms=["RS256"])
    assert id_token.header["alg"] == "RS256" and id_token.header["kid"] in [k.kid for k in jwks.keys]
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": base}, aud={"essential": True, "value": client_id}, exp={"essential": True}
    ).validate(id_token.claims)
    claims = id_token.claims
    assert claims["sub"] == str(alice.pk)
    assert claims["nonce"] == "live-nonce"
    assert claims["preferred_username"] == "alice" and claims["email"] == alice.email
    assert claims["civitas_institution"] == "aurelia"

    userinfo = oauth.get(config["userinfo_endpoint"]).json()
    assert userinfo["sub"] == str(alice.pk)


def test_client_credentials_end_to_end(live_server, insecure_transport, aurelia, borealis, ada):
    issued = machine_client(aurelia, ada)
    client_id = issued.client.application.client_id
    base = live_server.url
    token_url = urljoin(base, "/o/token/")

    machine = OAuth2Session(client_id, issued.client_secret, scope="tenancy:read")
    token = machine.fetch_token(token_url, grant_type="client_credentials")
    assert token["expires_in"] == 600

    assert machine.get(urljoin(base, f"/api/v1/institutions/{aurelia.slug}/")).status_code == 200
    assert machine.get(urljoin(base, f"/api/v1/institutions/{borealis.slug}/")).status_code == 404

    introspection = requests.post(
        urljoin(base, "/o/introspect/"),
        data={"token": token["access_token"]},
        auth=(client_id, issued.client_secret),
        timeout=10,
    ).json()
    assert introspection["active"] is True and introspection["scope"] == "tenancy:read"

    machine.revoke_token(urljoin(base, "/o/revoke_token/"), token=token["access_token"])
    assert machine.get(urljoin(base, f"/api/v1/institutions/{aurelia.slug}/")).status_code == 401

    wrong = requests.post(
        token_url, data={"grant_type": "client_credentials"}, auth=(client_id, "wrong-secret"), timeout=10
    )
    assert wrong.status_code == 401
    failure = AuditEvent.objects.filter(action="identity.api_auth_failed", changes__path="/o/token/").get()
    assert failure.changes["client_id"] == client_id
    assert "wrong-secret" not in str(failure.changes)


def test_an_unregistered_redirect_uri_is_refused_end_to_end(live_server, insecure_transport, aurelia, ada, alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    issued = web_client(aurelia, ada)
    base = live_server.url
    oauth = OAuth2Session(
        issued.client.application.client_id,
        issued.client_secret,
        scope="openid",
        redirect_uri="http://127.0.0.1:9999/not-registered",
        code_challenge_method="S256",
    )
    authorize_url, _state = oauth.create_authorization_url(urljoin(base, "/o/authorize/"), code_verifier="x" * 64)
    browser = requests.Session()
    log_in(browser, base, "alice", "/")
    response = browser.get(authorize_url, allow_redirects=False)
    assert response.status_code == 400
    assert "Location" not in response.headers

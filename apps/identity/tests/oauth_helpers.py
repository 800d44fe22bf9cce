"""Shared by the OAuth tests: clients of an institution and PKCE values."""

from __future__ import annotations

import base64
import hashlib
import secrets

from apps.identity.oauth.services import integrator_client_create
from apps.tenancy.scope import institution_scope

LOOPBACK_CALLBACK = "http://127.0.0.1:8765/callback"


def machine_client(institution, admin, *, scopes=("tenancy:read",), name="Payroll sync"):
    with institution_scope(institution):
        return integrator_client_create(
            institution=institution,
            actor=admin,
            name=name,
            client_type="confidential",
            grant_type="client-credentials",
            redirect_uris=[],
            scopes=list(scopes),
        )


def web_client(institution, admin, *, scopes=("openid", "profile", "email", "tenancy:read"), name="Citizen app"):
    with institution_scope(institution):
        return integrator_client_create(
            institution=institution,
            actor=admin,
            name=name,
            client_type="confidential",
            grant_type="authorization-code",
            redirect_uris=[LOOPBACK_CALLBACK],
            scopes=list(scopes),
        )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()

"""Zero trust on the API: every authentication or authorization failure is audited and
counted; a client address that fails too often is refused (429) before it is heard.

Covers the REST API (/api/) and the OAuth2/OIDC endpoints (/o/): 401 and 403 answers,
OAuth errors of the token, revocation and introspection endpoints, refused authorization
requests, and tokens used on another institution's routes (those answer 404, so nobody
learns the institution exists, but they are still refusals: see `portal.api`).
Nothing secret is recorded: no token, no password, no client secret, only the client id.
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import unquote

import structlog
from django.core.cache import cache
from django.db import transaction
from django.http import JsonResponse
from rest_framework.throttling import SimpleRateThrottle

from apps.audit.services import audit_append

log = structlog.get_logger(__name__)

GUARDED_PREFIXES = ("/api/", "/o/")
OAUTH_ENDPOINTS = ("/o/token/", "/o/revoke_token/", "/o/introspect/", "/o/userinfo/")
# Set on the Django request by `InstitutionScopedAPIView` when a token is refused a route.
DENIED_ATTRIBUTE = "civitas_access_denied"
CLIENT_ID_ATTRIBUTE = "civitas_oauth_client_id"


class AuthFailureThrottle(SimpleRateThrottle):
    """Counts failures at the rate of the `auth_failed` throttle scope, per client address
    (as DRF's other throttles see it, `NUM_PROXIES` included) and per OAuth client id, so
    guessing one client's secret is bounded even from many addresses."""

    scope = "auth_failed"

    def _keys(self, request) -> list[str]:
        keys = [self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}]
        client_id = _client_id(request)
        if client_id:
            keys.append(self.cache_format % {"scope": self.scope + "_client", "ident": client_id})
        return keys

    def _history(self, key: str, now: float) -> list[float]:
        return [t for t in cache.get(key, []) if t > now - self.duration]

    def blocked(self, request) -> int | None:
        """Seconds to wait when the address or the client has used up its failures, else None."""
        now = self.timer()
        for key in self._keys(request):
            history = self._history(key, now)
            if len(history) >= self.num_requests:
                return max(1, int(self.duration - (now - history[-1])))
        return None

    def record(self, request) -> None:
        now = self.timer()
        for key in self._keys(request):
            cache.set(key, [now, *self._history(key, now)], self.duration)


def _client_id(request) -> str:
    stashed = getattr(request, CLIENT_ID_ATTRIBUTE, "")
    if stashed:
        return stashed
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote(decoded.split(":", 1)[0])[:100]  # the secret after the colon is dropped
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        return str(request.POST.get("client_id", ""))[:100]
    return str(request.GET.get("client_id", ""))[:100]


def _scheme(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        return header.split(" ", 1)[0][:20]
    return "session" if request.COOKIES.get("sessionid") else "none"


def _oauth_error(response) -> str:
    try:
        body = json.loads(response.content or b"{}")
    except (ValueError, UnicodeDecodeError):
        return ""
    if isinstance(body, dict):
        return str(body.get("error") or body.get("code") or "")[:60]
    return ""


def _failure_action(request, response) -> str | None:
    path = request.path
    if getattr(request, DENIED_ATTRIBUTE, ""):
        return "identity.api_forbidden"
    if path.startswith("/o/authorize/") and response.status_code >= 400:
        return "identity.oauth_authorize_refused"
    if response.status_code == 401:
        return "identity.api_auth_failed"
    if response.status_code == 403:
        return "identity.api_forbidden"
    if path.startswith(OAUTH_ENDPOINTS) and response.status_code == 400:
        return "identity.api_auth_failed"
    return None


class ApiAuthFailureMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(GUARDED_PREFIXES):
            return self.get_response(request)
        throttle = AuthFailureThrottle()
        wait = throttle.blocked(request)
        if wait is not None:
            response = JsonResponse(
                {
                    "type": "https://civitas.example/problems/throttled",
                    "title": "Too many requests.",
                    "status": 429,
                    "detail": "Too many failed attempts from this address; try again later.",
                    "code": "throttled",
                },
                status=429,
                content_type="application/problem+json",
            )
            response["Retry-After"] = str(wait)
            return response
        response = self.get_response(request)
        action = _failure_action(request, response)
        if action is not None:
            throttle.record(request)
            self._audit(request, response, action)
        return response

    def _audit(self, request, response, action: str) -> None:
        user = getattr(request, "user", None)
        changes = {
            "path": request.path[:300],
            "method": request.method,
            "status": response.status_code,
            "error": getattr(request, DENIED_ATTRIBUTE, "") or _oauth_error(response),
            "client_id": _client_id(request),
            "auth_scheme": _scheme(request),
            "ip": request.META.get("REMOTE_ADDR", ""),
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
        }
        try:
            with transaction.atomic():
                audit_append(
                    institution=None,
                    actor=user,  # a person, a service user, or anonymous
                    action=action,
                    target_type="identity.user" if user is not None and user.is_authenticated else "",
                    target_id=str(user.pk) if user is not None and user.is_authenticated else "",
                    changes=changes,
                )
        except Exception:  # an audit failure must not turn a refusal into a 500
            log.exception("api_auth_failure_audit_failed", **changes)

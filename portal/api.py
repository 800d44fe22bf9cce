"""What every app's API shares: pagination, RFC 9457 errors, institution scoping."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from apps.tenancy.models import Role
from portal.errors import ApplicationError

ANY_MEMBER = frozenset(Role.values)
PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://civitas.example/problems/"

_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "validation_failed",
}


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def problem_response(
    *, status_code: int, code: str, title: str, detail: str, instance: str = "", extra: dict | None = None
) -> Response:
    """An RFC 9457 problem document; `code` is stable, `detail` is for people."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def problem_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: every error leaves the API as problem+json."""
    request = context.get("request")
    instance = request.get_full_path() if request is not None else ""
    if isinstance(exc, ApplicationError):
        set_rollback()
        return problem_response(
            status_code=exc.status,
            code=exc.code,
            title=str(exc.title),
            detail=exc.message,
            instance=instance,
            extra=exc.extra,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500 handling logs it and answers 500
    set_rollback()
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    extra: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        detail = _("Some of the information given is not valid.")
        extra["errors"] = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    else:
        detail = str(exc.detail)
    response = problem_response(
        status_code=exc.status_code,
        code=code,
        title=str(exceptions.APIException.default_detail if code == "error" else _title_for(code)),
        detail=detail,
        instance=instance,
        extra=extra,
    )
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response["Retry-After"] = str(int(exc.wait))
    auth_header = getattr(exc, "auth_header", None)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)) and auth_header:
        response["WWW-Authenticate"] = auth_header
    return response


def _title_for(code: str) -> str:
    titles = {
        "not_authenticated": _("Authentication required."),
        "authentication_failed": _("Authentication failed."),
        "permission_denied": _("You are not allowed to do this."),
        "not_found": _("Not found."),
        "method_not_allowed": _("Method not allowed."),
        "not_acceptable": _("Not acceptable."),
        "unsupported_media_type": _("Unsupported media type."),
        "throttled": _("Too many requests."),
        "malformed_request": _("The request body could not be read."),
        "validation_failed": _("Some of the information given is not valid."),
    }
    return titles.get(code, _("Error."))


class InstitutionScopedAPIView(APIView):
    """Base for every endpoint under /api/v1/institutions/{institution_slug}/.

    After authentication it checks that the caller is a member of the institution
    (anyone else gets 404, as if it did not exist), checks `required_roles`, and puts
    the institution in scope for the tenancy managers until the response is final.
    """

    # Every subclass must say which roles may call it (fail closed); ANY_MEMBER says so explicitly.
    required_roles: frozenset[str]
    permission_classes = [permissions.IsAuthenticated]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not isinstance(getattr(cls, "required_roles", None), frozenset):
            raise TypeError(f"{cls.__name__} must declare required_roles (a frozenset of roles, or ANY_MEMBER).")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        from apps.identity.oauth.binding import oauth_scope_check, oauth_token_bind
        from apps.identity.selectors import mfa_missing
        from apps.tenancy.scope import activate_institution
        from apps.tenancy.selectors import institution_for_member

        # OAuth2 tokens work only on their client's institution (404 elsewhere) and within their scopes.
        oauth_token_bind(request=request, institution_slug=kwargs["institution_slug"])
        institution, roles = institution_for_member(user=request.user, slug=kwargs["institution_slug"])
        request.institution = institution
        request.institution_roles = roles
        activate_institution(institution)
        if mfa_missing(user=request.user):
            raise ApplicationError(
                _("Your role requires two-factor authentication; set it up in the web portal first."),
                code="mfa_required",
            ).with_status(403)
        if not roles & self.required_roles:
            raise exceptions.PermissionDenied(_("Your role in this institution does not allow this."))
        oauth_scope_check(view=self, request=request)

    def finalize_response(self, request, response, *args, **kwargs):
        from apps.tenancy.scope import deactivate_institution

        deactivate_institution()
        return super().finalize_response(request, response, *args, **kwargs)


def created(data: Any) -> Response:
    return Response(data, status=status.HTTP_201_CREATED)

"""The front door and the error pages; every feature's pages live in its app."""

from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.tenancy.selectors import institutions_for_user
from portal.api import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE


@require_GET
def home(request):
    """Anonymous visitors see the welcome page; members go to their institution."""
    if not request.user.is_authenticated:
        return render(request, "home.html")
    institutions = list(institutions_for_user(user=request.user))
    remembered = request.session.get("institution_slug")
    for institution in institutions:
        if institution.slug == remembered:
            return redirect("tenancy:dashboard", institution_slug=institution.slug)
    if len(institutions) == 1:
        return redirect("tenancy:dashboard", institution_slug=institutions[0].slug)
    return render(request, "tenancy/choose_institution.html", {"institutions": institutions})


def _api_problem(request, *, status: int, code: str, title: str) -> JsonResponse | None:
    """Outside DRF views (no route matched, a crash), the API still answers problem+json."""
    if not request.path.startswith("/api/"):
        return None
    body = {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status, "code": code, "detail": title}
    body["instance"] = request.path
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def bad_request(request, exception=None):
    return _api_problem(request, status=400, code="bad_request", title=_("Bad request.")) or render(
        request, "errors/400.html", status=400
    )


def permission_denied(request, exception=None):
    return _api_problem(
        request, status=403, code="permission_denied", title=_("You are not allowed to do this.")
    ) or render(request, "errors/403.html", status=403)


def page_not_found(request, exception=None):
    return _api_problem(request, status=404, code="not_found", title=_("Not found.")) or render(
        request, "errors/404.html", status=404
    )


def server_error(request):
    # No context processors that touch the database: the error may be the database.
    from django.http import HttpResponseServerError
    from django.template import loader

    api = _api_problem(request, status=500, code="server_error", title=_("Something went wrong on our side."))
    return api or HttpResponseServerError(loader.get_template("errors/500.html").render())

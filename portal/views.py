"""The front door and the error pages; every feature's pages live in its app."""

from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from apps.tenancy.selectors import institutions_for_user


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


def bad_request(request, exception=None):
    return render(request, "errors/400.html", status=400)


def permission_denied(request, exception=None):
    return render(request, "errors/403.html", status=403)


def page_not_found(request, exception=None):
    return render(request, "errors/404.html", status=404)


def server_error(request):
    # No context processors that touch the database: the error may be the database.
    from django.http import HttpResponseServerError
    from django.template import loader

    return HttpResponseServerError(loader.get_template("errors/500.html").render())

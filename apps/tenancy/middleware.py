"""Puts the institution named in the URL in scope for web pages (the API does it in its base view)."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login

from apps.tenancy.scope import activate_institution, deactivate_institution
from apps.tenancy.selectors import institution_for_member


class InstitutionScopeMiddleware:
    """For every view whose URL has `institution_slug`: members get the institution in
    scope (`request.institution`, `request.institution_roles`); everyone else gets 404,
    and anonymous visitors are sent to log in first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            deactivate_institution()

    def process_view(self, request, view_func, view_args, view_kwargs):
        slug = view_kwargs.get("institution_slug")
        if slug is None or request.path.startswith("/api/"):
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        institution, roles = institution_for_member(user=request.user, slug=slug)
        request.institution = institution
        request.institution_roles = roles
        if request.session.get("institution_slug") != institution.slug:
            request.session["institution_slug"] = institution.slug  # the home page returns here
        activate_institution(institution)
        return None

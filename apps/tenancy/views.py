"""Web pages of an institution: its dashboard, its members, switching between institutions.

The tenancy middleware has already checked membership for every URL with
`institution_slug` (outsiders get 404) and set `request.institution` and
`request.institution_roles`; these views only check the role a page needs.
"""

from __future__ import annotations

from itertools import groupby

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from apps.tenancy import selectors, services
from apps.tenancy.dashboard import render_panels
from apps.tenancy.models import Role
from portal.errors import ApplicationError, ValidationFailed


class MembershipGrantForm(forms.Form):
    username = forms.CharField(
        label=gettext_lazy("User name"),
        max_length=150,
        help_text=gettext_lazy("The user name the person chose when they signed up."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
    )
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)


def _require_role(request, *roles: str) -> None:
    if not set(roles) & request.institution_roles:
        raise PermissionDenied(_("Only an institution administrator can manage members."))


def _role_labels(roles) -> list[str]:
    return [str(Role(role).label) for role in sorted(roles) if role in Role.values]


@login_required
@require_GET
def institution_switch(request):
    """Go to the dashboard of the institution chosen in the switcher, or list them all."""
    slug = request.GET.get("institution", "").strip()
    if slug:
        institution, _roles = selectors.institution_for_member(user=request.user, slug=slug)
        return redirect("tenancy:dashboard", institution_slug=institution.slug)
    institutions = selectors.institutions_for_user(user=request.user)
    return render(request, "tenancy/choose_institution.html", {"institutions": institutions})


@require_GET
def dashboard(request, institution_slug):
    return render(
        request,
        "tenancy/dashboard.html",
        {"panels": render_panels(request), "role_labels": _role_labels(request.institution_roles)},
    )


def _members_page(request, form, *, status=200):
    memberships = selectors.memberships_of_institution(institution=request.institution)
    people = [
        {"user": user, "memberships": list(rows)} for user, rows in groupby(memberships, key=lambda row: row.user)
    ]
    return render(request, "tenancy/members.html", {"people": people, "form": form}, status=status)


def _form_errors_from(form: forms.Form, error: ApplicationError) -> None:
    """Put a domain error on the form: on its field when the service named one, else on top."""
    field_errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if field_errors:
        for field, messages_ in field_errors.items():
            for message in messages_:
                form.add_error(field if field in form.fields else None, str(message))
    else:
        form.add_error(None, error.message)


@require_http_methods(["GET", "POST"])
def members(request, institution_slug):
    """Members and their roles; an administrator grants a role by user name."""
    _require_role(request, Role.INSTITUTION_ADMIN)
    if request.method == "GET":
        return _members_page(request, MembershipGrantForm())
    form = MembershipGrantForm(request.POST)
    if not form.is_valid():
        return _members_page(request, form, status=400)
    try:
        user = services.user_by_username(username=form.cleaned_data["username"].strip())
        membership = services.membership_grant(
            institution=request.institution, user=user, role=form.cleaned_data["role"], actor=request.user
        )
    except ApplicationError as error:
        _form_errors_from(form, error)
        return _members_page(request, form, status=error.status)
    messages.success(
        request,
        _("%(person)s is now %(role)s.") % {"person": membership.user, "role": membership.get_role_display()},
    )
    return redirect("tenancy:members", institution_slug=request.institution.slug)


@require_GET
def member_detail(request, institution_slug, membership_id):
    """One person's roles in this institution and what changed, from the row history."""
    _require_role(request, Role.INSTITUTION_ADMIN)
    membership = selectors.membership_get(institution=request.institution, membership_id=membership_id)
    person = membership.user
    current = selectors.memberships_of_institution(institution=request.institution).filter(user=person)
    history = selectors.membership_history(institution=request.institution, user=person)
    return render(
        request,
        "tenancy/member_detail.html",
        {"membership": membership, "person": person, "current": current, "history": history},
    )


@require_http_methods(["GET", "POST"])
def member_revoke(request, institution_slug, membership_id):
    """Ask for confirmation (GET), then remove one role (POST)."""
    _require_role(request, Role.INSTITUTION_ADMIN)
    membership = selectors.membership_get(institution=request.institution, membership_id=membership_id)
    if request.method == "GET":
        return render(request, "tenancy/member_revoke.html", {"membership": membership})
    person, role_label = membership.user, membership.get_role_display()
    try:
        services.membership_revoke(membership=membership, actor=request.user)
    except ApplicationError as error:
        return render(
            request, "tenancy/member_revoke.html", {"membership": membership, "error": error}, status=error.status
        )
    messages.success(request, _("%(person)s is no longer %(role)s.") % {"person": person, "role": role_label})
    return redirect("tenancy:members", institution_slug=request.institution.slug)

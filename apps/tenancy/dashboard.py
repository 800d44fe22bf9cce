"""The institution dashboard is a list of panels, each shown to the members of one role.

An app adds a panel without touching the dashboard: in its own `dashboard.py` module
(found at start of the first dashboard request, like `admin.py`), it calls

    register_panel(Role.CIVIL_SERVANT, "bpm/panels/tasks.html", tasks_context, order=20)

`context_fn(request)` returns the panel template's context; `request.institution` and
`request.institution_roles` are set, and every read must go through the app's selectors.
The panels of this first issue (notifications, audit, members, role guidance) are
registered at the bottom of this module; each may move to its app's own `dashboard.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.module_loading import autodiscover_modules
from django.utils.safestring import SafeString

from apps.tenancy.models import Role

EVERYONE = "*"  # the role of panels every member sees

ContextFn = Callable[[HttpRequest], dict[str, Any]]


@dataclass(frozen=True)
class Panel:
    role: str
    template_name: str
    context_fn: ContextFn | None
    order: int


@dataclass(frozen=True)
class RenderedPanel:
    panel: Panel
    html: SafeString


_panels: dict[tuple[str, str], Panel] = {}
_discovered = False


def register_panel(role: str, template_name: str, context_fn: ContextFn | None = None, order: int = 100) -> Panel:
    """Show `template_name` on the dashboard of members with `role` (or `EVERYONE`).

    Registering the same role and template again replaces the panel, so a module that is
    imported twice does not show it twice."""
    if role != EVERYONE and role not in Role.values:
        raise ValueError(f"Unknown role {role!r}: use a tenancy Role or dashboard.EVERYONE.")
    panel = Panel(role=role, template_name=template_name, context_fn=context_fn, order=order)
    _panels[(role, template_name)] = panel
    return panel


def unregister_panel(role: str, template_name: str) -> None:
    _panels.pop((role, template_name), None)


def _discover() -> None:
    global _discovered
    if not _discovered:
        autodiscover_modules("dashboard")
        _discovered = True


def panels_for(roles: set[str]) -> list[Panel]:
    """The panels members with these roles see, in order; a panel shows once however many roles match."""
    _discover()
    seen: set[str] = set()
    chosen = []
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.template_name)):
        if (panel.role == EVERYONE or panel.role in roles) and panel.template_name not in seen:
            seen.add(panel.template_name)
            chosen.append(panel)
    return chosen


def render_panels(request: HttpRequest) -> list[RenderedPanel]:
    """Render the dashboard's panels for the person making the request."""
    rendered = []
    for panel in panels_for(set(request.institution_roles)):
        context = panel.context_fn(request) if panel.context_fn else {}
        rendered.append(RenderedPanel(panel=panel, html=render_to_string(panel.template_name, context, request)))
    return rendered


# --- The panels of the first issue ---------------------------------------------------


def _notifications_context(request: HttpRequest) -> dict[str, Any]:
    from apps.notifications.selectors import notifications_for

    notifications = notifications_for(institution=request.institution, user=request.user)
    return {
        "notifications": list(notifications[:5]),
        "unread_count": notifications_for(institution=request.institution, user=request.user, unread_only=True).count(),
    }


def _members_context(request: HttpRequest) -> dict[str, Any]:
    from apps.tenancy.selectors import memberships_of_institution

    memberships = memberships_of_institution(institution=request.institution)
    return {
        "member_count": memberships.values("user_id").distinct().count(),
        "admin_count": memberships.filter(role=Role.INSTITUTION_ADMIN).count(),
    }


def _audit_context(request: HttpRequest) -> dict[str, Any]:
    from apps.audit.selectors import audit_events_for_institution, tree_head_latest

    return {
        "tree_head": tree_head_latest(),
        "events": list(audit_events_for_institution(institution=request.institution)[:10]),
    }


register_panel(EVERYONE, "notifications/panel.html", _notifications_context, order=10)
register_panel(Role.CIVIL_SERVANT, "tenancy/panels/work_queue.html", order=20)
register_panel(Role.COUNCIL_MEMBER, "tenancy/panels/council.html", order=20)
register_panel(Role.CITIZEN, "tenancy/panels/citizen.html", order=30)
register_panel(Role.INSTITUTION_ADMIN, "tenancy/panels/members.html", _members_context, order=40)
register_panel(Role.AUDITOR, "tenancy/panels/audit.html", _audit_context, order=50)
register_panel(Role.INTEGRATOR, "tenancy/panels/integrator.html", order=60)

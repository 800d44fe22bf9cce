"""Dashboard panels: the civil servant's work queue (replacing tenancy's placeholder) and the
administrators' processes."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.tenancy.dashboard import register_panel, unregister_panel
from apps.tenancy.models import Role

SHOWN = 5


def _queue_context(request: HttpRequest) -> dict[str, Any]:
    from apps.bpm.selectors import queue

    items = queue(institution=request.institution, roles=request.institution_roles)
    shown = list(items[: SHOWN + 1])
    return {"tasks": shown[:SHOWN], "task_count": len(shown) if len(shown) <= SHOWN else items.count()}


def _processes_context(request: HttpRequest) -> dict[str, Any]:
    from apps.bpm.models import InstanceStatus
    from apps.bpm.selectors import definitions_of, instances_of

    return {
        "definition_count": definitions_of(institution=request.institution).count(),
        "running_count": instances_of(institution=request.institution, status=InstanceStatus.RUNNING).count(),
        "failed_count": instances_of(institution=request.institution, status=InstanceStatus.FAILED).count(),
    }


unregister_panel(Role.CIVIL_SERVANT, "tenancy/panels/work_queue.html")
register_panel(Role.CIVIL_SERVANT, "bpm/panels/work_queue.html", _queue_context, order=20)
register_panel(Role.INSTITUTION_ADMIN, "bpm/panels/processes.html", _processes_context, order=45)

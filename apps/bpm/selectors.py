"""Reads of the BPM engine, always within one institution (another's object is 404)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.bpm.models import (
    InstanceEvent,
    ProcessDefinition,
    ProcessInstance,
    ProcessVersion,
    WorkItem,
    WorkItemStatus,
)
from apps.tenancy.models import Institution, Role


def definitions_of(*, institution: Institution) -> QuerySet[ProcessDefinition]:
    return ProcessDefinition.all_institutions.filter(institution=institution).order_by("name", "pk")


def definition_get(*, institution: Institution, definition_id: int) -> ProcessDefinition:
    """Raises: Http404."""
    definition = definitions_of(institution=institution).filter(pk=definition_id).first()
    if definition is None:
        raise Http404
    return definition


def versions_of(*, definition: ProcessDefinition) -> QuerySet[ProcessVersion]:
    return (
        ProcessVersion.all_institutions.filter(institution=definition.institution, definition=definition)
        .select_related("uploaded_by")
        .defer("content", "spec")
        .order_by("-number")
    )


def version_get(*, definition: ProcessDefinition, number: int) -> ProcessVersion:
    """Raises: Http404."""
    version = (
        ProcessVersion.all_institutions.filter(institution=definition.institution, definition=definition, number=number)
        .select_related("definition")
        .first()
    )
    if version is None:
        raise Http404
    return version


def instances_of(*, institution: Institution, definition: ProcessDefinition | None = None, status: str = ""):
    qs = (
        ProcessInstance.all_institutions.filter(institution=institution)
        .select_related("version__definition", "started_by")
        .defer("state", "version__content", "version__spec", "version__elements")
    )
    if definition is not None:
        qs = qs.filter(version__definition=definition)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-started_at", "-pk")


def instance_get(*, institution: Institution, instance_id: int) -> ProcessInstance:
    """Raises: Http404."""
    instance = (
        ProcessInstance.all_institutions.filter(institution=institution, pk=instance_id)
        .select_related("version__definition", "started_by")
        .first()
    )
    if instance is None:
        raise Http404
    return instance


def events_of(*, instance: ProcessInstance) -> QuerySet[InstanceEvent]:
    return InstanceEvent.all_institutions.filter(institution=instance.institution, instance=instance).select_related(
        "actor"
    )


def work_items_of(*, instance: ProcessInstance) -> QuerySet[WorkItem]:
    return WorkItem.all_institutions.filter(institution=instance.institution, instance=instance).select_related(
        "assignee", "completed_by"
    )


def queue(*, institution: Institution, roles: set[str], status: str = "open") -> QuerySet[WorkItem]:
    """The open user tasks the holder of `roles` may work: their roles' queues; everything for
    administrators. `status`: open (open and claimed), or a WorkItemStatus."""
    qs = (
        WorkItem.all_institutions.filter(institution=institution)
        .select_related("instance__version__definition", "assignee")
        .defer("instance__state", "instance__version__content", "instance__version__spec")
    )
    if Role.INSTITUTION_ADMIN not in roles:
        qs = qs.filter(role__in=roles)
    if status == "open":
        qs = qs.filter(status__in=[WorkItemStatus.OPEN, WorkItemStatus.CLAIMED])
    elif status:
        qs = qs.filter(status=status)
    return qs.order_by("created_at", "pk")


def work_item_get(*, institution: Institution, work_item_id: int) -> WorkItem:
    """Raises: Http404."""
    item = (
        WorkItem.all_institutions.filter(institution=institution, pk=work_item_id)
        .select_related("instance__version__definition", "assignee", "completed_by")
        .first()
    )
    if item is None:
        raise Http404
    return item

"""BPMN process definitions, their versions, running instances, user tasks and service calls.

An instance keeps the version it started on; its engine state is SpiffWorkflow's own
serialization (`state`), written with optimistic locking on `revision`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.tenancy.models import InstitutionOwned
from portal.models import GuardedStatus


class ProcessDefinition(InstitutionOwned):
    """A process of one institution, named by its BPMN process id (`key`)."""

    key = models.CharField(_("process id"), max_length=255)
    name = models.CharField(_("name"), max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["institution", "key"], name="bpm_definition_key_unique")]
        verbose_name = _("process definition")
        verbose_name_plural = _("process definitions")

    def __str__(self) -> str:
        return self.name


class ProcessVersion(InstitutionOwned):
    """One uploaded BPMN file of a definition: its bytes, their digest and the parsed spec."""

    definition = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    file_name = models.CharField(_("file name"), max_length=255)
    content = models.BinaryField(_("BPMN file"))
    sha256 = models.CharField(max_length=64)
    # SpiffWorkflow's serialization of the process spec and its subprocess specs
    spec = models.JSONField()
    # what Civitas reads from the file itself: per element id, its kind, role, form, action...
    elements = models.JSONField(default=dict)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["definition", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["definition", "number"], name="bpm_version_number_unique"),
        ]
        verbose_name = _("process version")
        verbose_name_plural = _("process versions")

    def __str__(self) -> str:
        return f"{self.definition} v{self.number}"


class InstanceStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")


class ProcessInstance(GuardedStatus, InstitutionOwned):
    TRANSITIONS = {
        InstanceStatus.RUNNING: {InstanceStatus.COMPLETED, InstanceStatus.FAILED},
    }
    transition_error = _("A %(current)s process instance cannot become %(new)s.")

    version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="instances")
    status = models.CharField(
        _("status"), max_length=10, choices=InstanceStatus.choices, default=InstanceStatus.RUNNING
    )
    # BpmnWorkflowSerializer's dict of the workflow; written only with a revision check
    state = models.JSONField(default=dict)
    revision = models.PositiveIntegerField(default=0)
    # the ids of the BPMN elements the instance waits in (user tasks, service tasks, timers)
    active_elements = models.JSONField(default=list)
    # the earliest timer the instance waits for; beat looks for due ones
    next_timer_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [
            models.Index(fields=["institution", "status"]),
            models.Index(fields=["status", "next_timer_at"]),
        ]
        verbose_name = _("process instance")
        verbose_name_plural = _("process instances")

    def __str__(self) -> str:
        return f"{self.version} #{self.pk}"

    @property
    def active_steps(self) -> list[dict]:
        """Where the instance waits: each element's id and its name in the diagram."""
        elements = self.version.elements
        return [
            {"id": element_id, "name": elements.get(element_id, {}).get("name") or element_id}
            for element_id in self.active_elements
        ]


class InstanceEvent(InstitutionOwned):
    """One step of an instance, as its history page shows it (each also an audit event)."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=60)
    element_id = models.CharField(max_length=255, blank=True)
    element_name = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    details = models.JSONField(default=dict)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("process instance event")
        verbose_name_plural = _("process instance events")


class WorkItemStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLAIMED = "claimed", _("Claimed")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class WorkItem(GuardedStatus, InstitutionOwned):
    """A ready user task of an instance, in the work queue of a role."""

    TRANSITIONS = {
        WorkItemStatus.OPEN: {WorkItemStatus.CLAIMED, WorkItemStatus.COMPLETED, WorkItemStatus.CANCELLED},
        WorkItemStatus.CLAIMED: {WorkItemStatus.CLAIMED, WorkItemStatus.COMPLETED, WorkItemStatus.CANCELLED},
    }
    transition_error = _("This task is already %(current)s.")

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="work_items")
    task_id = models.UUIDField()  # SpiffWorkflow's task id
    element_id = models.CharField(max_length=255)
    name = models.CharField(_("task"), max_length=255)
    role = models.CharField(_("role"), max_length=30)
    form = models.JSONField(default=list)
    status = models.CharField(_("status"), max_length=10, choices=WorkItemStatus.choices, default=WorkItemStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted = models.JSONField(default=dict, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["institution", "status", "role"])]
        constraints = [models.UniqueConstraint(fields=["instance", "task_id"], name="bpm_work_item_once")]
        verbose_name = _("work item")
        verbose_name_plural = _("work items")

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status in {WorkItemStatus.OPEN, WorkItemStatus.CLAIMED}


class CallStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    WAITING = "waiting", _("Waiting for a result")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class ServiceCall(GuardedStatus, InstitutionOwned):
    """A ready service task of an instance: its registered action, run as a Celery task."""

    TRANSITIONS = {
        CallStatus.PENDING: {CallStatus.WAITING, CallStatus.DONE, CallStatus.FAILED, CallStatus.CANCELLED},
        CallStatus.WAITING: {CallStatus.DONE, CallStatus.FAILED, CallStatus.CANCELLED},
    }
    transition_error = _("This service call is already %(current)s.")

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="service_calls")
    task_id = models.UUIDField()
    element_id = models.CharField(max_length=255)
    action = models.CharField(max_length=60)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=CallStatus.choices, default=CallStatus.PENDING)
    # what the action waits on (a cluster run's id, a review item's id)
    external_ref = models.CharField(max_length=64, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["action", "status"])]
        constraints = [models.UniqueConstraint(fields=["instance", "task_id"], name="bpm_service_call_once")]
        verbose_name = _("service call")
        verbose_name_plural = _("service calls")

    def __str__(self) -> str:
        return f"{self.action} ({self.element_id})"

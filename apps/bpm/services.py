"""Writes of the BPM engine: uploads, instances, user tasks, service calls and timers.

Every write checks who may do it, stays in the instance's institution, and appends its
audit events in the same transaction; each step the engine takes (a gateway, a script, a
timer, an end event) is an audit event too. An instance's engine state is written only
when its `revision` is still the one read (optimistic locking): a stale write raises
`Conflict` and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from typing import Any

from django.db import OperationalError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from apps.audit.services import audit_append
from apps.bpm.actions import ActionFailed, Waiting, action_for, waiting_actions
from apps.bpm.engine import MAX_DATA_BYTES, SAFE_ENGINE, UnsafeExpression, evaluate
from apps.bpm.models import (
    CallStatus,
    InstanceEvent,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    ProcessVersion,
    ServiceCall,
    WorkItem,
    WorkItemStatus,
)
from apps.bpm.parsing import SERIALIZER, parse_bpmn
from apps.tenancy.models import Institution, Membership, Role
from apps.tenancy.selectors import roles_of
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed

logger = logging.getLogger(__name__)

WORKERS = frozenset({Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN})
MAX_TEXT = 5000


def _roles(actor, institution) -> set[str]:
    if actor is None:  # the node itself (beat, Celery, seed)
        return set(Role.values)
    if isinstance(actor, str) or not getattr(actor, "is_authenticated", False):
        return set()
    return roles_of(user=actor, institution=institution)


def _require(actor, institution, roles: frozenset[str], message: str) -> None:
    if not _roles(actor, institution) & roles:
        raise PermissionDenied(message)


def _plain_data(data: Any, *, field: str = "data") -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and k and not k.startswith("_") for k in data):
        raise ValidationFailed(errors={field: [_("The data must be an object whose keys do not start with _.")]})
    try:
        encoded = json.dumps(data)
    except (TypeError, ValueError):
        raise ValidationFailed(errors={field: [_("The data must be plain JSON.")]}) from None
    if len(encoded) > MAX_DATA_BYTES:
        raise ValidationFailed(errors={field: [_("The data is larger than %(n)d bytes.") % {"n": MAX_DATA_BYTES}]})
    return json.loads(encoded)


# --- definitions ----------------------------------------------------------------------------


@transaction.atomic
def definition_upload(*, institution: Institution, actor, file_name: str, content: bytes) -> ProcessVersion:
    """Upload a BPMN file: a new definition, or a new version of the one with the same process id
    (institution administrators).

    Raises: PermissionDenied, ValidationFailed (code invalid_bpmn), Conflict (same file again)."""
    _require(
        actor,
        institution,
        frozenset({Role.INSTITUTION_ADMIN}),
        _("Only an institution administrator uploads processes."),
    )
    parsed = parse_bpmn(content=bytes(content), file_name=file_name)
    definition = ProcessDefinition.all_institutions.filter(institution=institution, key=parsed.key).first()
    created = definition is None
    if created:
        definition = ProcessDefinition.objects.create(institution=institution, key=parsed.key, name=parsed.name)
    else:
        same = ProcessVersion.all_institutions.filter(definition=definition, sha256=parsed.sha256).first()
        if same is not None:
            raise Conflict(_("This file is already version %(n)d of the process.") % {"n": same.number})
        if definition.name != parsed.name:
            definition.name = parsed.name
            definition.save(update_fields=["name"])
    last = definition.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = ProcessVersion.objects.create(
        institution=institution,
        definition=definition,
        number=last + 1,
        file_name=(file_name or "process.bpmn")[:255],
        content=bytes(content),
        sha256=parsed.sha256,
        spec=parsed.spec,
        elements=parsed.elements,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_append(
        institution=institution,
        actor=actor,
        action="bpm.version_upload",
        target=version,
        changes={"definition": definition.key, "number": version.number, "sha256": version.sha256, "new": created},
    )
    return version


# --- the engine state -------------------------------------------------------------------------


def _workflow_new(version: ProcessVersion) -> BpmnWorkflow:
    spec = SERIALIZER.from_dict(version.spec["spec"])
    subprocess_specs = {name: SERIALIZER.from_dict(s) for name, s in version.spec.get("subprocess_specs", {}).items()}
    return BpmnWorkflow(spec, subprocess_specs, script_engine=SAFE_ENGINE)


def _tree_ordered(workflow_dict: dict) -> dict:
    """The tasks of a serialized (sub)workflow with parents before their children.

    SpiffWorkflow stores a task's data as a delta from its parent's and restores the tasks in
    the order of the mapping; PostgreSQL's jsonb does not keep that order, so it is rebuilt
    from the tree (root first, then children in order) before restoring."""
    tasks = workflow_dict.get("tasks") or {}
    ordered: dict = {}
    queue = [workflow_dict.get("root")]
    while queue:
        task_id = queue.pop(0)
        if task_id in tasks and task_id not in ordered:
            ordered[task_id] = tasks[task_id]
            queue.extend(tasks[task_id].get("children", []))
    ordered.update({k: v for k, v in tasks.items() if k not in ordered})
    return {**workflow_dict, "tasks": ordered}


def _workflow_load(instance: ProcessInstance) -> BpmnWorkflow:
    state = _tree_ordered(instance.state)
    state["subprocesses"] = {k: _tree_ordered(v) for k, v in (state.get("subprocesses") or {}).items()}
    workflow = SERIALIZER.deserialize_json(json.dumps(state))
    # the serializer builds the default (eval-based) engine: replace it before anything runs
    workflow.script_engine = SAFE_ENGINE
    return workflow


def _due(task) -> dt.datetime | None:
    value = task._get_internal_data("event_value")
    if isinstance(value, dict):
        value = value.get("next")
    if not value:
        return None
    try:
        parsed = TimerEventDefinition.parse_time_or_duration(str(value))
    except Exception:
        return None
    return parsed if isinstance(parsed, dt.datetime) else None


def _timer_tasks(workflow: BpmnWorkflow) -> list:
    return [
        t
        for t in workflow.get_tasks(state=TaskState.WAITING)
        if isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)
    ]


class _Steps:
    """Collects what the engine did, to record after the state is saved."""

    def __init__(self):
        self.done: list[tuple[str, Any, dict]] = []

    def __call__(self, task) -> None:
        spec = task.task_spec
        if not spec.bpmn_id:
            return  # Spiff's own bookkeeping tasks (Start, EndJoin)
        kind = type(spec).__name__
        details: dict[str, Any] = {"type": kind}
        if isinstance(getattr(spec, "event_definition", None), TimerEventDefinition):
            action = "bpm.timer_fired"
        elif kind.endswith("Gateway"):
            action = "bpm.gateway_taken"
            details["to"] = sorted(
                c.task_spec.bpmn_id or c.task_spec.name
                for c in task.children
                if not c.has_state(TaskState.PREDICTED_MASK | TaskState.CANCELLED)
            )
        elif kind == "ScriptTask":
            action = "bpm.script_run"
        elif kind == "StartEvent":
            action = "bpm.start_event"
        elif kind == "EndEvent":
            action = "bpm.end_event"
        else:
            action = "bpm.step"
        self.done.append((action, spec, details))


def _record(instance: ProcessInstance, *, action: str, actor=None, element=None, details: dict | None = None) -> None:
    details = dict(details or {})
    element_id = getattr(element, "bpmn_id", "") or ""
    element_name = getattr(element, "bpmn_name", "") or ""
    InstanceEvent.objects.create(
        institution=instance.institution,
        instance=instance,
        action=action,
        element_id=element_id[:255],
        element_name=element_name[:255],
        actor=actor if getattr(actor, "pk", None) else None,
        details=details,
    )
    audit_append(
        institution=instance.institution,
        actor=actor,
        action=action,
        target=instance,
        changes={"element": element_id, "revision": instance.revision, **_digested(details)},
    )


# what people enter or processes compute may be personal: the permanent log keeps its digest,
# the instance's history (a row that can be erased) keeps the values
PERSONAL_KEYS = ("data", "values", "result")


def _digested(details: dict) -> dict:
    from apps.audit.canonical import canonical_json

    return {
        key: ("sha256:" + hashlib.sha256(canonical_json(value)).hexdigest() if key in PERSONAL_KEYS else value)
        for key, value in details.items()
    }


def _engine_steps(workflow: BpmnWorkflow, steps: _Steps) -> str:
    """Run the engine until it waits; returns the error that stopped it, or ''."""
    try:
        workflow.do_engine_steps(did_complete_task=steps)
    except (SpiffWorkflowException, UnsafeExpression) as exc:
        return str(exc)[:2000]
    return ""


def _save(instance: ProcessInstance, workflow: BpmnWorkflow, *, steps: _Steps, actor=None, error: str = "") -> None:
    """Write the engine state (revision-checked), sync the queue and the service calls, record the steps.

    Raises: Conflict (another write got there first)."""
    now = timezone.now()
    status = instance.status
    if error:
        status = InstanceStatus.FAILED
    elif workflow.is_completed():
        status = InstanceStatus.COMPLETED
    if status != instance.status:
        instance.transition_to(status)
    ready = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual] if not error else []
    waiting = workflow.get_tasks(state=TaskState.WAITING) if not error else []
    dues = [d for d in (_due(t) for t in _timer_tasks(workflow)) if d is not None] if not error else []
    expected = instance.revision
    fields = {
        "version": instance.version,
        "state": json.loads(SERIALIZER.serialize_json(workflow)),
        "revision": expected + 1,
        "status": status,
        "active_elements": sorted({t.task_spec.bpmn_id for t in [*ready, *waiting] if t.task_spec.bpmn_id}),
        "next_timer_at": min(dues) if dues else None,
        "error": error,
        "finished_at": now if status != InstanceStatus.RUNNING else None,
    }
    if instance.pk is None:
        raise RuntimeError("save the instance row before its engine state")
    updated = ProcessInstance.objects.filter(pk=instance.pk, revision=expected).update(**fields)
    if not updated:
        raise Conflict(_("The process instance was changed by someone else meanwhile; reload it and try again."))
    for name, value in fields.items():
        setattr(instance, name, value)
    for action, spec, details in steps.done:
        _record(instance, action=action, actor=actor, element=spec, details=details)
    _sync_tasks(instance, ready=ready, actor=actor)
    if status == InstanceStatus.COMPLETED:
        _record(instance, action="bpm.instance_complete", actor=actor, details={"data": _final_data(workflow)})
    elif status == InstanceStatus.FAILED and error:
        _record(instance, action="bpm.instance_fail", actor=actor, details={"error": error})


def _final_data(workflow: BpmnWorkflow) -> dict:
    try:
        return json.loads(json.dumps(workflow.last_task.data if workflow.last_task else {}, default=str))
    except (TypeError, ValueError):
        return {}


def _sync_tasks(instance: ProcessInstance, *, ready: list, actor) -> None:
    """Ready user tasks become work items, ready service tasks become calls; the rest close."""
    from apps.bpm import tasks

    ready_ids = set()
    elements = instance.version.elements
    for task in ready:
        ready_ids.add(task.id)
        element = elements.get(task.task_spec.bpmn_id, {})
        if isinstance(task.task_spec, ServiceTask):
            call, created = ServiceCall.objects.get_or_create(
                instance=instance,
                task_id=task.id,
                defaults={
                    "institution": instance.institution,
                    "element_id": task.task_spec.bpmn_id,
                    "action": element.get("action", ""),
                    "params": element.get("params", {}),
                },
            )
            if created:
                call_id, institution_id = call.pk, instance.institution_id
                transaction.on_commit(
                    lambda call_id=call_id, institution_id=institution_id: tasks.service_call_run_task.delay(
                        call_id=call_id, institution_id=institution_id
                    )
                )
        else:
            WorkItem.objects.get_or_create(
                instance=instance,
                task_id=task.id,
                defaults={
                    "institution": instance.institution,
                    "element_id": task.task_spec.bpmn_id or task.task_spec.name,
                    "name": (task.task_spec.bpmn_name or task.task_spec.bpmn_id or "")[:255],
                    "role": element.get("role", Role.CIVIL_SERVANT),
                    "form": element.get("form", []),
                },
            )
    for item in WorkItem.objects.filter(
        instance=instance, status__in=[WorkItemStatus.OPEN, WorkItemStatus.CLAIMED]
    ).exclude(task_id__in=ready_ids):
        item.transition_to(WorkItemStatus.CANCELLED)
        item.save(update_fields=["status"])
        _record(instance, action="bpm.task_cancel", actor=actor, details={"work_item": item.pk, "task": item.name})
    for call in ServiceCall.objects.filter(
        instance=instance, status__in=[CallStatus.PENDING, CallStatus.WAITING]
    ).exclude(task_id__in=ready_ids):
        call.transition_to(CallStatus.CANCELLED)
        call.finished_at = timezone.now()
        call.save(update_fields=["status", "finished_at"])


def _require_running(instance: ProcessInstance) -> None:
    if instance.status != InstanceStatus.RUNNING:
        raise InvalidTransition(_("The process instance is %(status)s.") % {"status": instance.get_status_display()})


def _ready_task(workflow: BpmnWorkflow, task_id):
    try:
        task = workflow.get_task_from_id(uuid.UUID(str(task_id)))
    except Exception:
        task = None
    if task is None or task.state != TaskState.READY:
        raise InvalidTransition(_("This step of the process is no longer waiting."))
    return task


# --- instances ------------------------------------------------------------------------------


@transaction.atomic
def instance_start(
    *, definition: ProcessDefinition, actor, data: Any = None, version: ProcessVersion | None = None
) -> ProcessInstance:
    """Start an instance of the latest version (or the given one) with its data
    (civil servants and administrators, or the node itself).

    Raises: PermissionDenied, ValidationFailed."""
    institution = definition.institution
    _require(actor, institution, WORKERS, _("Only civil servants and administrators start processes."))
    data = _plain_data(data)
    if version is None:
        version = definition.versions.order_by("-number").first()
    if version is None or version.definition_id != definition.pk:
        raise ValidationFailed(errors={"version": [_("Choose a version of this process.")]})
    workflow = _workflow_new(version)
    start = workflow.get_tasks(state=TaskState.READY)
    for task in start:
        task.set_data(**data)
    instance = ProcessInstance.objects.create(
        institution=institution,
        version=version,
        started_by=actor if getattr(actor, "pk", None) else None,
    )
    _record(
        instance,
        action="bpm.instance_start",
        actor=actor,
        details={"definition": definition.key, "version": version.number, "data": data},
    )
    steps = _Steps()
    error = _engine_steps(workflow, steps)
    _save(instance, workflow, steps=steps, actor=actor, error=error)
    return instance


def _migration_blockers(workflow: BpmnWorkflow, spec, dependencies: dict) -> list[str]:
    """Why the instance cannot move to the new spec: the steps it is in, or has still to pass
    through, were removed, or the steps it waits in changed. Empty: it can."""
    top, subprocess_diffs = diff_workflow(SERIALIZER.registry, workflow, spec, dependencies)
    blockers = []
    for diff in [top, *subprocess_diffs.values()]:
        if diff is None:
            blockers.append(_("a subprocess it runs is not in the new version"))
            continue
        for task in diff.removed:
            if task.task_spec.bpmn_id and not task.has_state(TaskState.FINISHED_MASK):
                blockers.append(
                    _("the step “%(step)s” it has yet to finish is not in the new version")
                    % {"step": task.task_spec.bpmn_name or task.task_spec.bpmn_id}
                )
        for task in diff.changed:
            if task.task_spec.bpmn_id and task.has_state(TaskState.READY | TaskState.WAITING | TaskState.STARTED):
                blockers.append(
                    _("the step “%(step)s” it waits in was changed")
                    % {"step": task.task_spec.bpmn_name or task.task_spec.bpmn_id}
                )
    return sorted(set(blockers))


@transaction.atomic
def instance_migrate(*, instance: ProcessInstance, version: ProcessVersion, actor) -> ProcessInstance:
    """Move a running instance to a newer version of its process, when the change allows it:
    every step it is in or has still to pass through is still there, and the steps it waits
    in are unchanged (administrators).

    Raises: PermissionDenied, ValidationFailed, InvalidTransition, Conflict."""
    _require(
        actor, instance.institution, frozenset({Role.INSTITUTION_ADMIN}), _("Only an administrator migrates instances.")
    )
    _require_running(instance)
    current = instance.version
    if version.definition_id != current.definition_id or version.number <= current.number:
        raise ValidationFailed(errors={"version": [_("Choose a newer version of the same process.")]})
    workflow = _workflow_load(instance)
    spec = SERIALIZER.from_dict(version.spec["spec"])
    dependencies = {name: SERIALIZER.from_dict(s) for name, s in version.spec.get("subprocess_specs", {}).items()}
    blockers = _migration_blockers(workflow, spec, dependencies)
    if blockers:
        raise InvalidTransition(
            _("This instance cannot move to version %(n)d: %(reasons)s.")
            % {"n": version.number, "reasons": "; ".join(blockers)}
        )
    top, subprocess_diffs = diff_workflow(SERIALIZER.registry, workflow, spec, dependencies)
    migrate_workflow(top, workflow, spec)
    for subprocess_id, diff in subprocess_diffs.items():
        subprocess = workflow.subprocesses[subprocess_id]
        migrate_workflow(diff, subprocess, dependencies[subprocess.spec.name])
    workflow.subprocess_specs = dependencies
    instance.version = version
    _record(
        instance,
        action="bpm.instance_migrate",
        actor=actor,
        details={"from": current.number, "to": version.number},
    )
    steps = _Steps()
    error = _engine_steps(workflow, steps)
    _save(instance, workflow, steps=steps, actor=actor, error=error)
    return instance


# --- user tasks -----------------------------------------------------------------------------


def _can_work(actor, item: WorkItem) -> bool:
    roles = _roles(actor, item.institution)
    return Role.INSTITUTION_ADMIN in roles or item.role in roles


@transaction.atomic
def work_item_claim(*, item: WorkItem, actor) -> WorkItem:
    """Take an open task of one's role's queue (a claimed one stays the claimant's).

    Raises: PermissionDenied, InvalidTransition, Conflict."""
    if not _can_work(actor, item):
        raise PermissionDenied(_("This task belongs to another role's queue."))
    item = WorkItem.objects.select_for_update().get(pk=item.pk)
    if item.status == WorkItemStatus.CLAIMED and item.assignee_id != actor.pk:
        raise Conflict(_("%(name)s has already claimed this task.") % {"name": item.assignee})
    if item.status == WorkItemStatus.CLAIMED:
        return item
    item.transition_to(WorkItemStatus.CLAIMED)
    item.assignee = actor
    item.save(update_fields=["status", "assignee"])
    _record(item.instance, action="bpm.task_claim", actor=actor, details={"work_item": item.pk, "task": item.name})
    return item


@transaction.atomic
def work_item_reassign(*, item: WorkItem, actor, assignee) -> WorkItem:
    """Give an open task to another member who holds its role (administrators).

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    _require(actor, item.institution, frozenset({Role.INSTITUTION_ADMIN}), _("Only an administrator reassigns tasks."))
    item = WorkItem.objects.select_for_update().get(pk=item.pk)
    if (
        assignee is None
        or not Membership.objects.filter(
            institution=item.institution, user=assignee, role__in={item.role, Role.INSTITUTION_ADMIN}
        ).exists()
    ):
        raise ValidationFailed(
            errors={"assignee": [_("Choose a member of this institution who holds the task's role.")]}
        )
    item.transition_to(WorkItemStatus.CLAIMED)
    previous = item.assignee.username if item.assignee_id else ""
    item.assignee = assignee
    item.save(update_fields=["status", "assignee"])
    _record(
        item.instance,
        action="bpm.task_reassign",
        actor=actor,
        details={"work_item": item.pk, "task": item.name, "from": previous, "to": assignee.username},
    )
    return item


def clean_form(*, form: list[dict], values: Any) -> dict:
    """Values for a task's form, typed; unknown fields refused.

    Raises: ValidationFailed."""
    if not isinstance(values, dict):
        raise ValidationFailed(errors={"values": [_("Send the form's values as an object.")]})
    known = {f["name"]: f for f in form}
    errors: dict[str, list[str]] = {}
    for name in values:
        if name not in known:
            errors[name] = [_("This task's form has no such field.")]
    cleaned: dict[str, Any] = {}
    for name, field in known.items():
        raw = values.get(name)
        if raw in (None, "") and field["type"] != "boolean":
            if field.get("required"):
                errors[name] = [_("This field is required.")]
            continue
        try:
            cleaned[name] = _typed(field, raw)
        except ValueError as exc:
            errors[name] = [str(exc)]
    if errors:
        raise ValidationFailed(errors=errors)
    return cleaned


def _typed(field: dict, raw: Any) -> Any:
    kind = field["type"]
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if raw in (None, "", "false", "off", "0", 0):
            return False
        if raw in ("true", "on", "1", 1):
            return True
        raise ValueError(_("Answer yes or no."))
    if kind == "integer":
        if isinstance(raw, bool):
            raise ValueError(_("Enter a whole number."))
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError(_("Enter a whole number.")) from None
    if kind == "number":
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise ValueError(_("Enter a number.")) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(_("Enter a number."))
        return value
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None
    text = str(raw)
    if len(text) > MAX_TEXT:
        raise ValueError(_("At most %(n)d characters.") % {"n": MAX_TEXT})
    if kind == "enum" and text not in field.get("options", []):
        raise ValueError(_("Choose one of: %(options)s.") % {"options": ", ".join(field.get("options", []))})
    return text


@transaction.atomic
def work_item_complete(*, item: WorkItem, actor, values: Any, instance: ProcessInstance | None = None) -> WorkItem:
    """Complete a task with its form's values; the instance goes on to its next wait.

    `instance` is the caller's copy of the instance: if it is stale, nothing changes.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition, Conflict."""
    if not _can_work(actor, item):
        raise PermissionDenied(_("This task belongs to another role's queue."))
    if item.status == WorkItemStatus.CLAIMED and item.assignee_id != actor.pk:
        raise PermissionDenied(_("%(name)s has claimed this task.") % {"name": item.assignee})
    if not item.is_open:
        raise InvalidTransition(_("This task is already %(status)s.") % {"status": item.get_status_display()})
    cleaned = clean_form(form=item.form, values=values)
    instance = instance or ProcessInstance.objects.get(pk=item.instance_id)
    _require_running(instance)
    workflow = _workflow_load(instance)
    task = _ready_task(workflow, item.task_id)
    task.set_data(**cleaned)
    steps = _Steps()
    error = ""
    try:
        task.run()
    except (SpiffWorkflowException, UnsafeExpression) as exc:
        error = str(exc)[:2000]
    error = error or _engine_steps(workflow, steps)
    item.transition_to(WorkItemStatus.COMPLETED)
    item.assignee = item.assignee or actor
    item.completed_by = actor
    item.completed_at = timezone.now()
    item.submitted = cleaned
    item.save(update_fields=["status", "assignee", "completed_by", "completed_at", "submitted"])
    _record(
        instance,
        action="bpm.task_complete",
        actor=actor,
        element=task.task_spec,
        details={"work_item": item.pk, "values": cleaned},
    )
    _save(instance, workflow, steps=steps, actor=actor, error=error)
    return item


# --- service tasks --------------------------------------------------------------------------


def _call_params(call: ServiceCall, workflow: BpmnWorkflow) -> dict:
    task = _ready_task(workflow, call.task_id)
    params = {}
    for name, spec in (call.params or {}).items():
        if "expression" in spec:
            params[name] = evaluate(spec["expression"], task.data)
        else:
            params[name] = spec.get("value", "")
    return params


def service_call_run(*, call: ServiceCall) -> ServiceCall:
    """Run a pending call's action; done: the instance goes on; waiting: it resumes later. Idempotent.

    Actions that only write to the database run inside the call's transaction; network actions
    (webhooks) run outside it, and their result is recorded if the call is still pending."""
    action = action_for(call.action)
    if call.status != CallStatus.PENDING:
        return call
    if action is not None and action.network:
        instance = ProcessInstance.objects.get(pk=call.instance_id)
        try:
            params = _call_params(call, _workflow_load(instance))
            outcome: Any = action.run(call=call, params=params)
        except (ActionFailed, UnsafeExpression, InvalidTransition) as exc:
            outcome = exc
        except (OperationalError, Conflict):
            raise  # transient: the Celery task retries
        except Exception as exc:  # a bug in an action fails the instance visibly instead of hanging it
            logger.exception("bpm action %s failed", call.action)
            outcome = ActionFailed(_("The action failed unexpectedly (%(error)s).") % {"error": type(exc).__name__})
        with transaction.atomic():
            call = ServiceCall.objects.select_for_update().get(pk=call.pk)
            if call.status == CallStatus.PENDING:
                _call_outcome(call, outcome)
        return call
    with transaction.atomic():
        call = ServiceCall.objects.select_for_update().get(pk=call.pk)
        if call.status != CallStatus.PENDING:
            return call
        if action is None:
            outcome = ActionFailed(_("The action %(action)s is no longer registered.") % {"action": call.action})
        else:
            instance = ProcessInstance.objects.get(pk=call.instance_id)
            try:
                params = _call_params(call, _workflow_load(instance))
                with transaction.atomic():  # a failed action's writes go, the call's failure stays
                    outcome = action.run(call=call, params=params)
            except (ActionFailed, UnsafeExpression, InvalidTransition) as exc:
                outcome = exc
            except (OperationalError, Conflict):
                raise  # transient: the Celery task retries
            except Exception as exc:  # a bug in an action fails the instance visibly instead of hanging it
                logger.exception("bpm action %s failed", call.action)
                outcome = ActionFailed(_("The action failed unexpectedly (%(error)s).") % {"error": type(exc).__name__})
        _call_outcome(call, outcome)
    return call


def _call_outcome(call: ServiceCall, outcome: Any) -> None:
    if isinstance(outcome, Waiting):
        call.transition_to(CallStatus.WAITING)
        call.external_ref = str(outcome.ref)[:64]
        call.save(update_fields=["status", "external_ref"])
        _record(
            call.instance,
            action="bpm.service_task_wait",
            details={"call": call.pk, "action": call.action, "element": call.element_id, "ref": call.external_ref},
        )
        return
    if isinstance(outcome, Exception):
        _service_call_fail(call, error=str(outcome))
        return
    _service_call_finish(call, result=outcome if isinstance(outcome, dict) else {})


def _service_call_fail(call: ServiceCall, *, error: str) -> None:
    call.transition_to(CallStatus.FAILED)
    call.error = error[:2000]
    call.finished_at = timezone.now()
    call.save(update_fields=["status", "error", "finished_at"])
    instance = ProcessInstance.objects.get(pk=call.instance_id)
    if instance.status != InstanceStatus.RUNNING:
        return
    workflow = _workflow_load(instance)
    _record(
        instance, action="bpm.service_task_fail", details={"call": call.pk, "action": call.action, "error": call.error}
    )
    _save(
        instance,
        workflow,
        steps=_Steps(),
        error=_("Service task %(element)s failed: %(error)s") % {"element": call.element_id, "error": call.error},
    )


def _service_call_finish(call: ServiceCall, *, result: dict, actor=None) -> None:
    try:
        result = _plain_data(result, field="result")
    except ValidationFailed:
        result = {}
    call.transition_to(CallStatus.DONE)
    call.result = result
    call.finished_at = timezone.now()
    call.save(update_fields=["status", "result", "finished_at"])
    instance = ProcessInstance.objects.get(pk=call.instance_id)
    _require_running(instance)
    workflow = _workflow_load(instance)
    task = _ready_task(workflow, call.task_id)
    task.set_data(**result)
    steps = _Steps()
    error = ""
    try:
        task.complete()  # the action did the work; Spiff's own service task body does nothing
    except (SpiffWorkflowException, UnsafeExpression) as exc:
        error = str(exc)[:2000]
    _record(
        instance,
        action="bpm.service_task_run",
        actor=actor,
        element=task.task_spec,
        details={"call": call.pk, "action": call.action, "result": result},
    )
    error = error or _engine_steps(workflow, steps)
    _save(instance, workflow, steps=steps, actor=actor, error=error)


@transaction.atomic
def service_call_resume(*, call: ServiceCall, result: dict, actor=None) -> ServiceCall:
    """Resume a waiting call with its result (a finished cluster run, a council verdict).

    Raises: InvalidTransition (not waiting), Conflict."""
    call = ServiceCall.objects.select_for_update().get(pk=call.pk)
    if call.status != CallStatus.WAITING:
        raise InvalidTransition(_("This service task is not waiting for a result."))
    _service_call_finish(call, result=result, actor=actor)
    return call


@transaction.atomic
def service_call_fail(*, call: ServiceCall, error: str) -> ServiceCall:
    """A waiting call's other side failed (the cluster run failed): the instance fails.

    Raises: InvalidTransition."""
    call = ServiceCall.objects.select_for_update().get(pk=call.pk)
    if call.status != CallStatus.WAITING:
        raise InvalidTransition(_("This service task is not waiting for a result."))
    _service_call_fail(call, error=error)
    return call


def _call_resume_if_final(call: ServiceCall) -> bool:
    """Resume (or fail) a waiting call once its action's outcome is final. Returns whether it did."""
    action = action_for(call.action)
    if action is None or action.outcome is None:
        return False
    outcome = action.outcome(call=call)
    if outcome is None:
        return False
    try:
        if isinstance(outcome, Exception):
            service_call_fail(call=call, error=str(outcome))
        else:
            service_call_resume(call=call, result=outcome)
    except InvalidTransition:
        return False  # resumed meanwhile (the listener and the poll both came)
    return True


def service_calls_wake(*, action: str, ref) -> int:
    """What a waiting call waits on changed (a cluster run finished, an application was decided, an
    inspection reported): resume its calls whose outcome is now final. Returns how many.

    Raises: Conflict (the Celery task retries)."""
    calls = ServiceCall.objects.filter(action=action, status=CallStatus.WAITING, external_ref=str(ref))
    return sum(1 for call in calls if _call_resume_if_final(call))


def service_calls_resume_for_run(*, run_id: int) -> int:
    """A cluster run finished or took a verdict (apps.agents' run listener): resume its waiting calls.

    Raises: Conflict (the Celery task retries)."""
    return service_calls_wake(action="agents.cluster", ref=run_id)


def service_calls_poll() -> int:
    """Beat: resume the waiting calls whose outcome is final, in case a wake-up task was lost. Returns how many."""
    from apps.tenancy.scope import institution_scope

    resumed = 0
    # tenancy: beat looks across institutions, then works in each call's own scope
    waiting = ServiceCall.all_institutions.filter(
        action__in=waiting_actions(), status=CallStatus.WAITING
    ).select_related("institution")[:200]
    for call in waiting:
        with institution_scope(call.institution):
            try:
                resumed += _call_resume_if_final(call)
            except Conflict:
                logger.info("bpm call %s not resumed this time", call.pk)
    return resumed


# --- timers ---------------------------------------------------------------------------------


@transaction.atomic
def instance_timers_fire(*, instance: ProcessInstance, now: dt.datetime | None = None) -> int:
    """Fire the instance's timers that are due at `now`, and let it go on. Returns how many fired.

    Raises: Conflict."""
    now = now or timezone.now()
    instance = ProcessInstance.objects.get(pk=instance.pk)
    if instance.status != InstanceStatus.RUNNING:
        return 0
    workflow = _workflow_load(instance)
    fired = 0
    for task in _timer_tasks(workflow):
        due = _due(task)
        if due is not None and due <= now:
            task._set_internal_data(event_fired=True)
            fired += 1
    workflow.refresh_timers()
    steps = _Steps()
    error = _engine_steps(workflow, steps)
    _save(instance, workflow, steps=steps, error=error)
    return fired


def timers_fire_due(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Beat: fire every due timer (SLA and expiry) of every running instance. Returns how many fired."""
    from apps.tenancy.scope import institution_scope

    now = now or timezone.now()
    # tenancy: beat finds due instances across institutions, then fires each in its own scope
    due = ProcessInstance.all_institutions.filter(status=InstanceStatus.RUNNING, next_timer_at__lte=now).select_related(
        "institution"
    )[:limit]
    fired = 0
    for instance in due:
        with institution_scope(instance.institution):
            try:
                fired += instance_timers_fire(instance=instance, now=now)
            except Conflict:
                logger.info("bpm instance %s changed while its timers fired; next beat tries again", instance.pk)
    return fired

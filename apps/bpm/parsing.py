"""Reading an uploaded BPMN 2.0 file safely, into SpiffWorkflow's spec and Civitas's element table.

Order matters: the size is checked before any parsing; defusedxml refuses DTDs, entity
declarations and external references (billion laughs, XXE) before lxml or SpiffWorkflow
see the bytes; lxml then parses with entities unresolved, no network and no huge trees;
SpiffWorkflow validates against the BPMN 2.0 schema and builds the spec; finally every
expression and script is checked against the safe subset (apps/bpm/engine.py) and every
service task must name a registered action. Any failure raises `ValidationFailed` with
one message saying what is wrong, and nothing is stored.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

import defusedxml
import defusedxml.ElementTree
from django.utils.translation import gettext as _
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.defaults import NoneTask as DefaultNoneTask
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask as DefaultServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.none_task import NoneTask
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException

from apps.bpm.actions import action_for, registered_actions
from apps.bpm.engine import ISO_TIMER, UnsafeExpression, check_expression, check_script
from apps.tenancy.models import Role
from portal.errors import ValidationFailed

MAX_FILE_BYTES = 1_000_000
MAX_FORM_FIELDS = 30

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CIVITAS_NS = "https://civitas.example/bpmn"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
# roles whose members work a process's user tasks
QUEUE_ROLES = (Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN)
FIELD_TYPES = {"string", "text", "integer", "number", "boolean", "enum", "date"}
_CAMUNDA_TYPES = {
    "string": "string",
    "textarea": "text",  # bpmn-js form editors write it
    "long": "integer",
    "boolean": "boolean",
    "enum": "enum",
    "date": "date",
}


class _StoredManualConverter(BpmnTaskSpecConverter):
    """Restores `manual` as stored: SpiffWorkflow's NoneTask sets it to True in __init__, and Civitas
    runs an abstract bpmn:task as a pass-through step (see _check_spec)."""

    def from_dict(self, dct):
        spec = super().from_dict(dct)
        spec.manual = bool(dct.get("manual", spec.manual))
        return spec


def _serializer() -> BpmnWorkflowSerializer:
    # SpiffWorkflow's default configuration has no converter for plain BPMN service tasks
    config = dict(DEFAULT_CONFIG)
    config[DefaultServiceTask] = BpmnTaskSpecConverter
    config[DefaultNoneTask] = _StoredManualConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


SERIALIZER = _serializer()


@dataclass
class ParsedProcess:
    key: str
    name: str
    spec: dict  # {"spec": ..., "subprocess_specs": {...}} in SpiffWorkflow's serialization
    elements: dict[str, dict]
    sha256: str


def refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={"file": [message]}, code="invalid_bpmn")


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _safe_tree(content: bytes) -> etree._Element:
    if len(content) > MAX_FILE_BYTES:
        raise refuse(
            _("The file is %(size)d bytes; the limit is %(limit)d bytes.")
            % {"size": len(content), "limit": MAX_FILE_BYTES}
        )
    if not content.strip():
        raise refuse(_("The file is empty."))
    try:
        defusedxml.ElementTree.fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise refuse(_("The file declares a DTD; BPMN files must not (entities are refused).")) from None
    except defusedxml.EntitiesForbidden:
        raise refuse(_("The file declares XML entities; they are refused (entity expansion attacks).")) from None
    except defusedxml.ExternalReferenceForbidden:
        raise refuse(_("The file refers to external resources; they are refused.")) from None
    except defusedxml.DefusedXmlException as exc:
        raise refuse(_("The file was refused: %(reason)s") % {"reason": exc}) from None
    except Exception as exc:  # ElementTree.ParseError and friends: not XML at all
        raise refuse(_("The file is not well-formed XML: %(reason)s") % {"reason": exc}) from None
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, dtd_validation=False
    )
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise refuse(_("The file is not well-formed XML: %(reason)s") % {"reason": exc}) from None
    if root.tag != _q(BPMN_NS, "definitions"):
        raise refuse(_("The file is not a BPMN 2.0 document (its root must be bpmn:definitions)."))
    return root


def _label(node: etree._Element) -> str:
    return node.get("name") or node.get("id") or ""


def _lanes(process: etree._Element) -> dict[str, str]:
    lanes = {}
    for lane in process.iter(_q(BPMN_NS, "lane")):
        for ref in lane.iter(_q(BPMN_NS, "flowNodeRef")):
            lanes[(ref.text or "").strip()] = lane.get("name") or ""
    return lanes


def _role_of(node: etree._Element, lane: str) -> str:
    """The civitas:role attribute, else Camunda's candidateGroups, else the lane, else civil servants."""
    explicit = node.get(_q(CIVITAS_NS, "role")) or (node.get(_q(CAMUNDA_NS, "candidateGroups")) or "").split(",")[0]
    if explicit.strip():
        role = explicit.strip()
        if role not in QUEUE_ROLES:
            raise refuse(
                _("User task “%(task)s” names the role %(role)s; use one of: %(roles)s.")
                % {"task": _label(node), "role": role, "roles": ", ".join(QUEUE_ROLES)}
            )
        return role
    normalised = lane.strip().lower().replace(" ", "_")
    for role in QUEUE_ROLES:
        if normalised in {role, str(Role(role).label).lower().replace(" ", "_")}:
            return role
    return Role.CIVIL_SERVANT


def _form_of(node: etree._Element) -> list[dict]:
    fields = []
    for field in node.iter(_q(CIVITAS_NS, "field")):
        fields.append(
            {
                "name": field.get("name") or "",
                "type": field.get("type") or "string",
                "label": field.get("label") or field.get("name") or "",
                "required": (field.get("required") or "").lower() == "true",
                "options": [o.strip() for o in (field.get("options") or "").split(",") if o.strip()],
            }
        )
    for field in node.iter(_q(CAMUNDA_NS, "formField")):
        kind = _CAMUNDA_TYPES.get(field.get("type") or "string")
        if kind is None:
            raise refuse(
                _("User task “%(task)s”: the form field type %(type)s is not supported.")
                % {"task": _label(node), "type": field.get("type")}
            )
        required = any(c.get("name") == "required" for c in field.iter(_q(CAMUNDA_NS, "constraint")))
        fields.append(
            {
                "name": field.get("id") or "",
                "type": kind,
                "label": field.get("label") or field.get("id") or "",
                "required": required,
                "options": [v.get("id") for v in field.iter(_q(CAMUNDA_NS, "value")) if v.get("id")],
            }
        )
    if len(fields) > MAX_FORM_FIELDS:
        raise refuse(
            _("User task “%(task)s” has more than %(n)d form fields.") % {"task": _label(node), "n": MAX_FORM_FIELDS}
        )
    for field in fields:
        if not field["name"].isidentifier() or field["name"].startswith("_"):
            raise refuse(
                _("User task “%(task)s”: the form field name %(name)r must be a simple name not starting with _.")
                % {"task": _label(node), "name": field["name"]}
            )
        if field["type"] not in FIELD_TYPES:
            raise refuse(
                _("User task “%(task)s”: the form field type %(type)s is not one of %(types)s.")
                % {"task": _label(node), "type": field["type"], "types": ", ".join(sorted(FIELD_TYPES))}
            )
        if field["type"] == "enum" and not field["options"]:
            raise refuse(
                _("User task “%(task)s”: the choice field %(name)s lists no options.")
                % {"task": _label(node), "name": field["name"]}
            )
    return fields


def _service_of(node: etree._Element) -> dict:
    name = node.get(_q(CIVITAS_NS, "action")) or node.get(_q(CAMUNDA_NS, "topic")) or ""
    action = action_for(name)
    if action is None:
        raise refuse(
            _("Service task “%(task)s” names the action %(action)r, which is not registered; available: %(actions)s.")
            % {"task": _label(node), "action": name, "actions": ", ".join(registered_actions())}
        )
    params: dict[str, dict] = {}
    for param in node.iter(_q(CIVITAS_NS, "param")):
        pname = param.get("name") or ""
        if param.get("expression") is not None:
            try:
                check_expression(param.get("expression"))
            except UnsafeExpression as exc:
                raise refuse(
                    _("Service task “%(task)s”, parameter %(param)s: %(reason)s")
                    % {"task": _label(node), "param": pname, "reason": exc}
                ) from None
            params[pname] = {"expression": param.get("expression")}
        else:
            params[pname] = {"value": param.get("value") or ""}
    missing = sorted(action.required_params - set(params))
    if missing:
        raise refuse(
            _("Service task “%(task)s” (action %(action)s) lacks the parameters: %(missing)s.")
            % {"task": _label(node), "action": name, "missing": ", ".join(missing)}
        )
    return {"action": name, "params": params}


def _elements(process: etree._Element) -> dict[str, dict]:
    lanes = _lanes(process)
    elements: dict[str, dict] = {}
    for node in process.iter():
        if not isinstance(node.tag, str) or not node.tag.startswith(f"{{{BPMN_NS}}}") or not node.get("id"):
            continue
        kind = etree.QName(node).localname
        entry: dict[str, Any] = {"kind": kind, "name": _label(node)}
        if kind == "userTask":
            entry["role"] = _role_of(node, lanes.get(node.get("id"), ""))
            entry["form"] = _form_of(node)
        elif kind == "serviceTask":
            entry.update(_service_of(node))
        elements[node.get("id")] = entry
    return elements


def _check_spec(spec, elements: dict[str, dict]) -> None:
    for task_spec in spec.task_specs.values():
        label = task_spec.bpmn_name or task_spec.bpmn_id or task_spec.name

        def fail(reason: Any, label: str = label) -> ValidationFailed:
            return refuse(_("“%(element)s”: %(reason)s") % {"element": label, "reason": reason})

        try:
            if isinstance(task_spec, ScriptTask):
                check_script(task_spec.script)
            for condition, _target in getattr(task_spec, "cond_task_specs", None) or []:
                if condition is not None:
                    check_expression(condition.args[0])
            event = getattr(task_spec, "event_definition", None)
            if isinstance(event, TimerEventDefinition) and not ISO_TIMER.match(str(event.expression).strip()):
                check_expression(event.expression)
            if isinstance(event, ConditionalEventDefinition):
                check_expression(event.expression)
            for attribute in ("cardinality", "condition"):
                value = getattr(task_spec, attribute, None)
                if isinstance(value, str) and value.strip():
                    check_expression(value)
        except UnsafeExpression as exc:
            raise fail(exc) from None
        if isinstance(task_spec, NoneTask):
            # an abstract bpmn:task says what happens, not how: a pass-through step, as in Camunda and Flowable
            task_spec.manual = False
        if isinstance(task_spec, ExclusiveGateway) and elements.get(task_spec.bpmn_id, {}).get("decided_by_person"):
            # waits as a work item whose form chooses the branch (see _normalised)
            task_spec.manual = True
        if isinstance(task_spec, ServiceTask):
            if task_spec.bpmn_id not in elements:
                raise fail(_("a service task must name an action"))
            # the engine never runs a service task itself: a Celery task runs its action
            task_spec.manual = True


ROUTE_FIELD = "route"
_RUNS_CODE = ("scriptTask", "serviceTask", "sendTask", "businessRuleTask")


def _process_to_run(root: etree._Element) -> etree._Element | None:
    """The process a file without any isExecutable="true" process runs: its collaboration's first
    participant that has a start event, else the first such process in the file."""
    processes = {p.get("id"): p for p in root.iter(_q(BPMN_NS, "process"))}
    called = {c.get("calledElement") for c in root.iter(_q(BPMN_NS, "callActivity"))}

    def runnable(process) -> bool:
        return process is not None and process.find(_q(BPMN_NS, "startEvent")) is not None

    for participant in root.iter(_q(BPMN_NS, "participant")):
        process = processes.get(participant.get("processRef"))
        if runnable(process) and process.get("id") not in called:
            return process
    return next((p for p in processes.values() if runnable(p) and p.get("id") not in called), None)


def _undecided_gateway(gateway: etree._Element, flows: list[etree._Element]) -> bool:
    """An exclusive gateway whose branches (other than the default) have no condition: a descriptive model."""
    default = gateway.get("default")
    return len(flows) > 1 and any(
        not (f.findtext(_q(BPMN_NS, "conditionExpression")) or "").strip() for f in flows if f.get("id") != default
    )


def _normalised(root: etree._Element, elements: dict[str, dict]) -> etree._Element:
    """A copy of the tree for SpiffWorkflow with what descriptive models leave open made explicit.

    The stored file is never changed; only what the engine builds from it:
    - a collapsed sub-process with nothing inside is an abstract step (a bpmn:task, so a no-op);
    - an exclusive gateway whose branches have no conditions is decided by a person: each branch
      gets the condition `route == "<its label>"` and the gateway waits as a work item whose form
      asks for the route (an element-table entry marked decided_by_person)."""
    tree = copy.deepcopy(root)
    for sub in list(tree.iter(_q(BPMN_NS, "subProcess"))):
        if sub.find(_q(BPMN_NS, "startEvent")) is None and sub.get("triggeredByEvent") != "true":
            sub.tag = _q(BPMN_NS, "task")
            sub.attrib.pop("triggeredByEvent", None)
    nodes = {n.get("id"): n for n in tree.iter() if isinstance(n.tag, str) and n.get("id")}
    for gateway in tree.iter(_q(BPMN_NS, "exclusiveGateway")):
        flows = [f for f in tree.iter(_q(BPMN_NS, "sequenceFlow")) if f.get("sourceRef") == gateway.get("id")]
        if not _undecided_gateway(gateway, flows):
            continue
        labels = {}
        for flow in flows:
            target = nodes.get(flow.get("targetRef"))
            labels[flow.get("id")] = (
                flow.get("name") or (target.get("name") if target is not None else "") or ""
            ).strip()
        if len(set(labels.values())) != len(labels) or not all(labels.values()):
            labels = {flow_id: flow_id for flow_id in labels}  # ambiguous names: the flow ids
        for flow in flows:
            if flow.get("id") == gateway.get("default"):
                continue
            condition = flow.find(_q(BPMN_NS, "conditionExpression"))
            if condition is None:
                condition = etree.SubElement(flow, _q(BPMN_NS, "conditionExpression"))
            if not (condition.text or "").strip():
                condition.text = f"{ROUTE_FIELD} == {labels[flow.get('id')]!r}"
        entry = elements.setdefault(gateway.get("id"), {"kind": "exclusiveGateway", "name": _label(gateway)})
        entry.update(
            {
                "decided_by_person": True,
                "role": Role.CIVIL_SERVANT,
                "form": [
                    {
                        "name": ROUTE_FIELD,
                        "type": "enum",
                        "label": _label(gateway) or ROUTE_FIELD,
                        "required": True,
                        "options": list(labels.values()),
                    }
                ],
            }
        )
    return tree


def parse_bpmn(*, content: bytes, file_name: str) -> ParsedProcess:
    """Parse and check an uploaded BPMN file.

    Raises: ValidationFailed (code invalid_bpmn) naming the problem."""
    root = _safe_tree(content)
    elements: dict[str, dict] = {}
    for process in root.iter(_q(BPMN_NS, "process")):
        elements.update(_elements(process))
    executable = [p for p in root.iter(_q(BPMN_NS, "process")) if p.get("isExecutable", "true") == "true"]
    descriptive = not executable
    if descriptive:
        chosen = _process_to_run(root)
        if chosen is None:
            raise refuse(_('The file has no executable process (a bpmn:process with isExecutable="true").'))
        runs_code = [n for n in chosen.iter() if isinstance(n.tag, str) and etree.QName(n).localname in _RUNS_CODE]
        if runs_code:
            # its author said no engine runs it: its scripts and calls were not written to be run
            raise refuse(
                _(
                    'The process “%(process)s” is marked isExecutable="false" but has steps that run code or '
                    "actions (“%(element)s”); mark it executable if they are meant to run."
                )
                % {"process": _label(chosen), "element": _label(runs_code[0])}
            )
    engine_tree = _normalised(root, elements)
    parser = BpmnParser(validator=BpmnValidator())
    try:
        parser.add_bpmn_xml(etree.ElementTree(engine_tree), filename=file_name)
        if descriptive:
            # a model without isExecutable="true" (a descriptive one): all its processes may be read
            for process_parser in parser.process_parsers.values():
                process_parser.process_executable = True
            key = chosen.get("id")
        else:
            process_ids = parser.get_process_ids()
            if not process_ids:
                raise refuse(_('The file has no executable process (a bpmn:process with isExecutable="true").'))
            key = process_ids[0]
        process_node = next(p for p in root.iter(_q(BPMN_NS, "process")) if p.get("id") == key)
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except ValidationException as exc:
        where = f" (line {exc.line_number})" if getattr(exc, "line_number", "") else ""
        raise refuse(
            _("The file is not valid BPMN 2.0%(where)s: %(reason)s") % {"where": where, "reason": exc}
        ) from None
    except SpiffWorkflowException as exc:
        raise refuse(_("The process cannot be read: %(reason)s") % {"reason": exc}) from None
    for each in (spec, *subprocess_specs.values()):
        _check_spec(each, elements)
    serialized = {
        "spec": SERIALIZER.to_dict(spec),
        "subprocess_specs": {name: SERIALIZER.to_dict(s) for name, s in subprocess_specs.items()},
    }
    return ParsedProcess(
        key=key,
        name=(process_node.get("name") or key)[:255],
        spec=serialized,
        elements=elements,
        sha256=hashlib.sha256(content).hexdigest(),
    )

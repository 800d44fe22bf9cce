"""Files from other modelers load and run: the BPMN MIWG reference models and SpiffWorkflow's own
examples (fixtures/bpmn/, sources in its README), each uploaded, started and driven to its end
through the services; and malicious files are refused with nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

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

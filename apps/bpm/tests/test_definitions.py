"""Uploads: valid files become versions; invalid and malicious ones are refused, with nothing stored."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.bpm import services
from apps.bpm.models import ProcessDefinition, ProcessVersion
from apps.bpm.tests.factories import bpmn, upload
from apps.tenancy.scope import institution_scope
from portal.errors import Conflict, PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>{doctype}
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="p" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="s" />
    <bpmn:scriptTask id="s" name="Script"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="s" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""

BILLION_LAUGHS = """
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>"""
EXTERNAL_ENTITY = '\n<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def process(*, script="x = 1", name="Plain", doctype="") -> bytes:
    return PROCESS.format(script=script, name=name, doctype=doctype).encode()


def _refused(aurelia, ada, content: bytes) -> str:
    before = AuditEvent.objects.count()
    with institution_scope(aurelia), pytest.raises(ValidationFailed) as caught:
        services.definition_upload(institution=aurelia, actor=ada, file_name="bad.bpmn", content=content)
    assert not ProcessDefinition.all_institutions.exists()
    assert not ProcessVersion.all_institutions.exists()
    assert AuditEvent.objects.count() == before
    assert caught.value.code == "invalid_bpmn"
    return caught.value.message


def test_upload_makes_a_version_with_its_digest_and_an_audit_event(aurelia, ada):
    version = upload(aurelia, ada)
    assert version.number == 1
    assert version.definition.key == "permit_review"
    assert version.definition.name == "Permit review"
    assert bytes(version.content) == bpmn("review_gateway.bpmn")
    assert len(version.sha256) == 64
    assert version.elements["review"]["role"] == "civil_servant"
    assert [f["name"] for f in version.elements["review"]["form"]] == ["approved", "comment"]
    assert AuditEvent.objects.filter(action="bpm.version_upload", target_id=str(version.pk)).exists()


def test_a_changed_file_is_the_next_version_and_the_same_file_again_is_refused(aurelia, ada):
    upload(aurelia, ada)
    changed = bpmn("review_gateway.bpmn").replace(b"fee = crowd * 2", b"fee = crowd * 3")
    with institution_scope(aurelia):
        second = services.definition_upload(institution=aurelia, actor=ada, file_name="v2.bpmn", content=changed)
        assert second.number == 2
        assert ProcessDefinition.objects.count() == 1
        with pytest.raises(Conflict):
            services.definition_upload(institution=aurelia, actor=ada, file_name="again.bpmn", content=changed)
    assert ProcessVersion.all_institutions.count() == 2


def test_only_administrators_upload(aurelia, alice):
    with institution_scope(aurelia), pytest.raises(PermissionDenied):
        services.definition_upload(
            institution=aurelia, actor=alice, file_name="x.bpmn", content=bpmn("review_gateway.bpmn")
        )
    assert not ProcessVersion.all_institutions.exists()


def test_billion_laughs_is_refused(aurelia, ada):
    message = _refused(aurelia, ada, process(doctype=BILLION_LAUGHS, name="&lol3;"))
    assert "DTD" in message


def test_external_entity_is_refused(aurelia, ada):
    message = _refused(aurelia, ada, process(doctype=EXTERNAL_ENTITY, name="&xxe;"))
    assert "DTD" in message or "entit" in message


def test_a_file_over_the_size_limit_is_refused_before_parsing(aurelia, ada):
    big = process(script="x = 1\n" + "# padding\n" * 200_000)
    assert len(big) > 2_000_000
    assert "limit" in _refused(aurelia, ada, big)


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("import os", "imports are not allowed"),
        ("from os import system", "imports are not allowed"),
        ("x = __import__('os')", "__import__"),
        ("x = ().__class__", "__class__"),
        ("x = open('/etc/passwd')", "only these functions"),
        ("def f():\n    return 1", "only assignments"),
        ("while True:\n    x = 1", "only assignments"),
        ("x = [c for c in 'ab']", "not allowed"),
        ("x = (lambda: 1)()", "only these functions"),
    ],
)
def test_unsafe_scripts_are_refused_with_the_reason(aurelia, ada, script, says):
    assert says in _refused(aurelia, ada, process(script=script))


def test_an_unsafe_gateway_condition_is_refused(aurelia, ada):
    content = bpmn("review_gateway.bpmn").replace(b"approved == True", b"approved.__class__")
    assert "__class__" in _refused(aurelia, ada, content)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty"),
        (b"not xml at all", "well-formed"),
        (b"<html><body>hello</body></html>", "BPMN 2.0"),
        (process().replace(b'isExecutable="true"', b'isExecutable="false"'), "executable"),
        (process().replace(b'targetRef="end"', b'targetRef="nowhere"'), "BPMN"),
    ],
)
def test_invalid_files_are_refused_with_a_clear_error(aurelia, ada, content, says):
    assert says in _refused(aurelia, ada, content)


def test_a_service_task_must_name_a_registered_action(aurelia, ada):
    content = bpmn("service.bpmn").replace(b'civitas:action="notify"', b'civitas:action="shell"')
    message = _refused(aurelia, ada, content)
    assert "shell" in message and "notify" in message


def test_a_user_task_role_must_be_one_that_works_queues(aurelia, ada):
    content = bpmn("review_gateway.bpmn").replace(b'civitas:role="civil_servant"', b'civitas:role="citizen"')
    assert "citizen" in _refused(aurelia, ada, content)


@pytest.mark.parametrize("name", ["review_gateway.bpmn", "parallel.bpmn", "timer.bpmn", "service.bpmn", "council.bpmn"])
def test_the_example_models_load(aurelia, ada, name):
    assert upload(aurelia, ada, name).number == 1

"""The BPM engine over the API: upload, start, the queue, claim, complete, 409 on stale writes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.bpm.models import InstanceStatus, ProcessInstance, ProcessVersion, WorkItem
from apps.bpm.tests.factories import bpmn, start, upload
from apps.bpm.tests.test_definitions import BILLION_LAUGHS, process
from portal.testing import api_as

pytestmark = pytest.mark.django_db

BASE = "/api/v1/institutions/aurelia/bpm/"


def test_an_administrator_uploads_and_a_civil_servant_starts_and_completes(aurelia, ada, alice):
    response = api_as(ada).post(
        BASE + "definitions/",
        {"file": SimpleUploadedFile("review.bpmn", bpmn("review_gateway.bpmn"), "application/xml")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    definition = response.json()
    assert definition["key"] == "permit_review" and definition["versions"][0]["number"] == 1

    client = api_as(alice)
    response = client.post(f"{BASE}definitions/{definition['id']}/instances/", {"data": {"crowd": 20}}, format="json")
    assert response.status_code == 201, response.content
    instance = response.json()
    assert instance["active_elements"] == ["review"] and instance["events"][0]["action"] == "bpm.instance_start"

    queue = client.get(BASE + "tasks/").json()["results"]
    assert [t["name"] for t in queue] == ["Review the application"]
    task = queue[0]
    assert client.post(f"{BASE}tasks/{task['id']}/claim/").json()["assignee"] == "alice"
    stale = client.post(
        f"{BASE}tasks/{task['id']}/complete/",
        {"values": {"approved": True}, "revision": instance["revision"] - 1},
        format="json",
    )
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    bad = client.post(f"{BASE}tasks/{task['id']}/complete/", {"values": {"approved": "perhaps"}}, format="json")
    assert bad.status_code == 400 and "approved" in bad.json()["errors"]
    done = client.post(
        f"{BASE}tasks/{task['id']}/complete/",
        {"values": {"approved": True}, "revision": instance["revision"]},
        format="json",
    )
    assert done.status_code == 200, done.content
    detail = client.get(f"{BASE}instances/{instance['id']}/").json()
    assert detail["status"] == InstanceStatus.COMPLETED
    assert "bpm.gateway_taken" in [e["action"] for e in detail["events"]]


def test_a_malicious_upload_is_a_problem_document_and_stores_nothing(aurelia, ada):
    before = AuditEvent.objects.count()
    response = api_as(ada).post(
        BASE + "definitions/",
        {"file": SimpleUploadedFile("evil.bpmn", process(doctype=BILLION_LAUGHS, name="&lol3;"), "application/xml")},
        format="multipart",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_bpmn" and "DTD" in response.json()["detail"]
    assert not ProcessVersion.all_institutions.exists()
    assert AuditEvent.objects.count() == before


def test_roles(aurelia, ada, alice, bob):
    response = api_as(alice).post(
        BASE + "definitions/", {"file": SimpleUploadedFile("r.bpmn", bpmn("review_gateway.bpmn"))}, format="multipart"
    )
    assert response.status_code == 403
    version = upload(aurelia, ada)
    assert api_as(bob).get(BASE + "definitions/").status_code == 403
    assert (
        api_as(bob).post(f"{BASE}definitions/{version.definition_id}/instances/", {}, format="json").status_code == 403
    )
    assert not ProcessInstance.all_institutions.exists()


def test_a_civil_servant_sees_only_the_queues_of_her_roles(aurelia, ada, alice):
    start(upload(aurelia, ada, "parallel.bpmn"), ada, {})
    fee = WorkItem.all_institutions.get(element_id="check_fee")  # the administrators' queue
    client = api_as(alice)
    assert [t["element_id"] for t in client.get(BASE + "tasks/").json()["results"]] == ["check_site"]
    assert client.get(f"{BASE}tasks/{fee.pk}/").status_code == 404
    assert client.post(f"{BASE}tasks/{fee.pk}/claim/").status_code == 404
    assert sorted(t["element_id"] for t in api_as(ada).get(BASE + "tasks/").json()["results"]) == [
        "check_fee",
        "check_site",
    ]


def test_another_institution_never_sees_the_queue(aurelia, ada, alice, charlie, borealis):
    start(upload(aurelia, ada), alice, {"crowd": 1})
    item = WorkItem.all_institutions.get()
    client = api_as(charlie)
    assert client.get(BASE + "tasks/").status_code == 404
    assert (
        client.post(f"{BASE}tasks/{item.pk}/complete/", {"values": {"approved": True}}, format="json").status_code
        == 404
    )
    assert client.get("/api/v1/institutions/borealis/bpm/tasks/").json()["results"] == []
    assert client.get(f"/api/v1/institutions/borealis/bpm/tasks/{item.pk}/").status_code == 404
    item.refresh_from_db()
    assert item.status == "open"


def test_list_query_counts_are_pinned(aurelia, ada, alice, django_assert_max_num_queries):
    version = upload(aurelia, ada)
    for crowd in range(5):
        start(version, alice, {"crowd": crowd})
    client = api_as(alice)
    with django_assert_max_num_queries(12):
        assert len(client.get(BASE + "instances/").json()["results"]) == 5
    with django_assert_max_num_queries(12):
        assert len(client.get(BASE + "tasks/").json()["results"]) == 5


def test_migration_over_the_api_says_why_it_is_refused(aurelia, ada, alice):
    instance = start(upload(aurelia, ada), alice, {"crowd": 1})
    gone = bpmn("review_gateway.bpmn").replace(b'id="review"', b'id="assess"').replace(b'"review"', b'"assess"')
    response = api_as(ada).post(
        BASE + "definitions/", {"file": SimpleUploadedFile("v2.bpmn", gone)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    refused = api_as(ada).post(f"{BASE}instances/{instance.pk}/migrate/", {"version": 2}, format="json")
    assert refused.status_code == 409 and "Review the application" in refused.json()["detail"]
    assert (
        api_as(alice).post(f"{BASE}instances/{instance.pk}/migrate/", {"version": 2}, format="json").status_code == 403
    )

"""The BPM pages: definitions, upload, instances with their history and diagram, the work queue."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.bpm.models import InstanceStatus, ProcessVersion, WorkItem, WorkItemStatus
from apps.bpm.tests.factories import bpmn, start, upload
from apps.bpm.tests.test_definitions import process

pytestmark = pytest.mark.django_db

BASE = "/i/aurelia/bpm/"


def test_upload_page_shows_a_refusal_and_stores_nothing(client, aurelia, ada):
    client.force_login(ada)
    response = client.post(
        BASE + "definitions/upload/", {"file": SimpleUploadedFile("x.bpmn", process(script="import os"))}
    )
    assert response.status_code == 400
    assert "imports are not allowed" in response.content.decode()
    assert not ProcessVersion.all_institutions.exists()
    response = client.post(
        BASE + "definitions/upload/", {"file": SimpleUploadedFile("r.bpmn", bpmn("review_gateway.bpmn"))}
    )
    assert response.status_code == 302
    assert ProcessVersion.all_institutions.count() == 1


def test_a_civil_servant_starts_works_and_reads_the_history(client, aurelia, ada, alice):
    version = upload(aurelia, ada)
    client.force_login(alice)
    page = client.get(f"{BASE}definitions/{version.definition_id}/")
    assert page.status_code == 200 and "Permit review" in page.content.decode()
    response = client.post(f"{BASE}definitions/{version.definition_id}/", {"data": '{"crowd": 700}'})
    assert response.status_code == 302
    instance_url = response["Location"]
    detail = client.get(instance_url).content.decode()
    assert "Review the application" in detail and "bpm.script_run" in detail
    assert 'data-active="[&quot;review&quot;]"' in detail or "Download the BPMN file" in detail
    item = WorkItem.all_institutions.get()
    assert "Review the application" in client.get(BASE + "queue/").content.decode()
    assert client.post(f"{BASE}queue/{item.pk}/claim/").status_code == 302
    assert client.post(f"{BASE}queue/{item.pk}/", {"approved": "on", "comment": "fine"}).status_code == 302
    item.refresh_from_db()
    assert item.status == WorkItemStatus.COMPLETED and item.submitted == {"approved": True, "comment": "fine"}
    assert item.instance.status == InstanceStatus.COMPLETED
    xml = client.get(f"{BASE}definitions/{version.definition_id}/versions/1/bpmn/")
    assert xml["Content-Type"].startswith("application/xml") and xml.content == bpmn("review_gateway.bpmn")


def test_bad_start_data_is_refused_on_the_page(client, aurelia, ada, alice):
    version = upload(aurelia, ada)
    client.force_login(alice)
    response = client.post(f"{BASE}definitions/{version.definition_id}/", {"data": "[1, 2"})
    assert response.status_code == 400 and "not valid JSON" in response.content.decode()


def test_the_diagram_page_has_no_inline_script(client, aurelia, ada, alice):
    instance = start(upload(aurelia, ada), alice, {"crowd": 1})
    client.force_login(alice)
    html = client.get(f"{BASE}instances/{instance.pk}/").content.decode()
    assert "<script>" not in html and "onload=" not in html


def test_citizens_do_not_see_processes(client, aurelia, ada, bob):
    upload(aurelia, ada)
    client.force_login(bob)
    assert client.get(BASE).status_code == 403
    assert client.get(BASE + "queue/").status_code == 403


def test_another_roles_task_page_is_404(client, aurelia, ada, alice):
    start(upload(aurelia, ada, "parallel.bpmn"), ada, {})
    fee = WorkItem.all_institutions.get(element_id="check_fee")
    client.force_login(alice)
    assert client.get(f"{BASE}queue/{fee.pk}/").status_code == 404
    assert "Check the fee" not in client.get(BASE + "queue/").content.decode()


def test_the_dashboard_shows_the_work_queue_and_the_processes(client, aurelia, ada, alice):
    client.force_login(alice)
    assert "There are no tasks for you yet." in client.get("/i/aurelia/").content.decode()
    start(upload(aurelia, ada), alice, {"crowd": 1})
    html = client.get("/i/aurelia/").content.decode()
    assert "1 task is waiting in your queues." in html and "Review the application" in html
    client.force_login(ada)
    html = client.get("/i/aurelia/").content.decode()
    assert "1 process definition." in html and "Instances running: 1; failed: 0." in html

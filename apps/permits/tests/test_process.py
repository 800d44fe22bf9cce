"""Permits on their BPMN process: the demo processes in fixtures/permits/ drive applications through the
permits services (review, issue), and the process waits on the application, never the other way round."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from apps.audit.models import AuditEvent
from apps.bpm import services as bpm_services
from apps.bpm.models import CallStatus, InstanceStatus, ServiceCall, WorkItem
from apps.identity.credentials.verify import verify_credential
from apps.permits import services
from apps.permits.models import ApplicationStatus, Permit, PermitApplication, PermitStatus
from apps.permits.tests.conftest import ANSWERS, make_cluster, make_type, pdf
from apps.tenancy.scope import institution_scope
from portal.errors import Conflict, InvalidTransition, PermissionDenied

pytestmark = pytest.mark.django_db

PROCESSES = Path(settings.BASE_DIR) / "fixtures" / "permits"


def upload(institution, admin, name: str):
    with institution_scope(institution):
        return bpm_services.definition_upload(
            institution=institution, actor=admin, file_name=name, content=(PROCESSES / name).read_bytes()
        )


def apply(permit_type, applicant, capture, data=None):
    with institution_scope(permit_type.institution), capture(execute=True):
        application = services.application_create(
            permit_type=permit_type, applicant=applicant, data=data or ANSWERS, files={"site_plan": pdf()}
        )
    application.refresh_from_db()
    return application


def element_path(instance) -> list[str]:
    from apps.bpm.models import InstanceEvent

    return list(
        InstanceEvent.all_institutions.filter(instance=instance)  # tenancy: the test's own instance
        .exclude(element_id="")
        .order_by("pk")
        .values_list("element_id", flat=True)
    )


def test_a_street_vending_approval_by_the_agents_stands_and_the_process_issues_the_permit(
    aurelia, ada, bob, django_capture_on_commit_callbacks
):
    upload(aurelia, ada, "street_vending.bpmn")
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="street_vending_permit")

    application = apply(permit_type, bob, django_capture_on_commit_callbacks)

    assert application.status == ApplicationStatus.ISSUED
    assert application.approve_automatically
    assert application.decided_by is None  # nobody had to confirm
    instance = application.process_instance
    assert instance.status == InstanceStatus.COMPLETED
    path = element_path(instance)
    assert path.index("review") < path.index("issue") < path.index("issued")
    assert "not_granted" not in path
    permit = Permit.all_institutions.get(application=application)
    assert verify_credential(permit.credential.document)["verified"]
    issue_call = ServiceCall.all_institutions.get(instance=instance, element_id="issue")
    assert issue_call.result["permit"] == str(permit.uuid)
    from apps.permits.models import ApplicationEvent

    steps = list(  # tenancy: the test's own application
        ApplicationEvent.all_institutions.filter(application=application).values_list("status_to", flat=True)
    )
    assert steps == ["draft", "submitted", "under_review", "awaiting_confirmation", "approved", "issued"]
    assert AuditEvent.objects.filter(action="permits.application.auto_approve").count() == 1
    assert AuditEvent.objects.filter(action="permits.application.process_start").count() == 1


def test_an_agent_refusal_is_never_automatic_and_a_civil_servant_refusing_ends_the_process(
    aurelia, ada, bob, alice, django_capture_on_commit_callbacks
):
    from apps.agents.clusters import redteam
    from apps.agents.clusters import services as cluster_services

    upload(aurelia, ada, "street_vending.bpmn")
    denier = redteam.make_agent(aurelia, ada, "Denier", decision="deny")
    with institution_scope(aurelia):
        cluster = cluster_services.cluster_create(
            institution=aurelia,
            actor=ada,
            name="Deny",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of([denier]),
            allowed_decisions=["approve", "deny"],
        )
    permit_type = make_type(aurelia, ada, cluster=cluster, process_key="street_vending_permit")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks)
    assert application.status == ApplicationStatus.AWAITING_CONFIRMATION  # a person decides a refusal
    call = ServiceCall.all_institutions.get(instance=application.process_instance, element_id="review")
    assert call.status == CallStatus.WAITING

    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        services.application_decide(application=application, actor=alice, approve=False, reason="The pitch is taken.")
    application.refresh_from_db()
    instance = application.process_instance
    instance.refresh_from_db()
    assert application.status == ApplicationStatus.REFUSED
    assert instance.status == InstanceStatus.COMPLETED
    assert "not_granted" in element_path(instance)
    assert not Permit.all_institutions.exists()
    call.refresh_from_db()
    assert call.result == {"decision": "refused", "reason": "The pitch is taken."}


def test_a_civil_servant_approval_lets_the_process_issue(aurelia, ada, bob, alice, django_capture_on_commit_callbacks):
    upload(aurelia, ada, "event_permit.bpmn")
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="event_permit")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks)
    assert application.status == ApplicationStatus.AWAITING_CONFIRMATION  # not automatic for events
    assert "announce" not in element_path(application.process_instance)  # a small crowd

    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        services.application_decide(application=application, actor=alice, approve=True)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ISSUED
    application.process_instance.refresh_from_db()
    assert application.process_instance.status == InstanceStatus.COMPLETED
    assert Permit.all_institutions.filter(application=application, status=PermitStatus.ACTIVE).count() == 1


def test_a_large_event_is_announced_to_the_administrators(aurelia, ada, bob, django_capture_on_commit_callbacks):
    from apps.notifications.models import Notification

    upload(aurelia, ada, "event_permit.bpmn")
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="event_permit")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks, data={**ANSWERS, "crowd_size": 2500})
    assert "announce" in element_path(application.process_instance)
    assert Notification.all_institutions.filter(recipient=ada, title__startswith="A large event").exists()


def test_the_process_waits_for_an_answer_to_a_request_for_information(
    aurelia, ada, bob, alice, django_capture_on_commit_callbacks
):
    upload(aurelia, ada, "event_permit.bpmn")
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="event_permit")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks)
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        services.application_request_information(application=application, actor=alice, question="Which stage?")
        services.application_answer(application=application, actor=bob, answer="The small one.")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.AWAITING_CONFIRMATION  # the agents reviewed it again
    call = ServiceCall.all_institutions.get(instance=application.process_instance, element_id="review")
    assert call.status == CallStatus.WAITING  # still the same step: no decision yet


def test_a_withdrawn_application_ends_its_process(aurelia, ada, bob, django_capture_on_commit_callbacks):
    upload(aurelia, ada, "event_permit.bpmn")
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="event_permit")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks)
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        services.application_withdraw(application=application, actor=bob)
    application.process_instance.refresh_from_db()
    assert application.process_instance.status == InstanceStatus.COMPLETED
    assert "not_granted" in element_path(application.process_instance)


def test_the_building_process_waits_for_the_pre_check_then_the_review(
    aurelia, ada, bob, alice, django_capture_on_commit_callbacks
):
    upload(aurelia, ada, "building_permit.bpmn")
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="building_permit")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks)
    assert application.status == ApplicationStatus.SUBMITTED  # the civil servant's pre-check comes first
    item = WorkItem.all_institutions.get(instance=application.process_instance, element_id="precheck")
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        bpm_services.work_item_complete(item=item, actor=alice, values={"heritage_zone": "true"})
    application.refresh_from_db()
    assert application.status == ApplicationStatus.AWAITING_CONFIRMATION
    data = application.process_instance
    data.refresh_from_db()
    assert "review" in data.active_elements


def test_without_the_named_process_the_application_is_reviewed_as_before(
    aurelia, ada, bob, django_capture_on_commit_callbacks
):
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="no_such_process")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks)
    assert application.process_instance is None
    assert application.status == ApplicationStatus.AWAITING_CONFIRMATION
    event = AuditEvent.objects.get(action="permits.application.process_missing")
    assert "no_such_process" in event.changes["reason"]


def test_another_institutions_process_is_not_used(aurelia, borealis, ada, bob, django_capture_on_commit_callbacks):
    from portal.testing import UserFactory, member

    boris = member(UserFactory(username="boris-admin"), borealis, "institution_admin")
    upload(borealis, boris, "street_vending.bpmn")
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="street_vending_permit")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks)
    assert application.process_instance is None


def test_the_issue_action_refuses_an_application_that_is_not_approved(
    aurelia, ada, bob, django_capture_on_commit_callbacks
):
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks)
    with pytest.raises(InvalidTransition), institution_scope(aurelia):
        services.application_issue(application=application)
    assert not Permit.all_institutions.exists()


# --- renewal ------------------------------------------------------------------------------------


def _issued(aurelia, ada, bob, alice, capture):
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="")
    application = apply(permit_type, bob, capture)
    with institution_scope(aurelia):
        services.application_decide(application=application, actor=alice, approve=True)
    return Permit.all_institutions.get(application=application)


def test_a_renewal_continues_the_permit_where_it_ends(aurelia, ada, bob, alice, django_capture_on_commit_callbacks):
    permit = _issued(aurelia, ada, bob, alice, django_capture_on_commit_callbacks)
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        renewal = services.application_renew(permit=permit, applicant=bob, data={"crowd_size": 140})
    renewal.refresh_from_db()
    assert renewal.renews == permit
    assert renewal.data["crowd_size"] == 140 and renewal.data["venue"] == "park"  # the rest carried over
    assert [a["name"] for a in renewal.attachments] == ["site_plan"]
    assert renewal.status == ApplicationStatus.AWAITING_CONFIRMATION
    with pytest.raises(Conflict), institution_scope(aurelia):
        services.application_renew(permit=permit, applicant=bob)  # one renewal at a time
    with institution_scope(aurelia):
        services.application_decide(application=renewal, actor=alice, approve=True)
    new = Permit.all_institutions.get(application=renewal)
    assert new.valid_from == permit.valid_until
    assert new.credential.document["validFrom"].startswith(permit.valid_until.date().isoformat())
    assert PermitApplication.all_institutions.filter(renews=permit).count() == 1


def test_only_the_holder_renews_and_never_a_suspended_permit(
    aurelia, ada, bob, alice, django_capture_on_commit_callbacks
):
    permit = _issued(aurelia, ada, bob, alice, django_capture_on_commit_callbacks)
    with pytest.raises(PermissionDenied), institution_scope(aurelia):
        services.application_renew(permit=permit, applicant=alice)
    with institution_scope(aurelia):
        services.permit_suspend(permit=permit, actor=ada, reason="Complaints.")
    with pytest.raises(InvalidTransition), institution_scope(aurelia):
        services.application_renew(permit=permit, applicant=bob)
    assert not PermitApplication.all_institutions.filter(renews=permit).exists()


def test_the_holder_renews_from_the_permit_page_and_nobody_else_can(
    client, aurelia, ada, bob, alice, charlie, django_capture_on_commit_callbacks
):
    permit = _issued(aurelia, ada, bob, alice, django_capture_on_commit_callbacks)
    url = f"/i/aurelia/permits/permits/{permit.pk}/"
    client.force_login(alice)
    assert "Renew this permit" not in client.get(url).content.decode()
    client.post(url + "renew/")  # staff read the permit, only the holder renews: refused with a message
    client.force_login(charlie)
    assert client.post(url + "renew/").status_code in (403, 404)  # another institution's permit
    assert not PermitApplication.all_institutions.filter(renews=permit).exists()

    client.force_login(bob)
    assert "Renew this permit" in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url + "renew/")
    renewal = PermitApplication.all_institutions.get(renews=permit)
    assert response.status_code == 302 and response.url.endswith(f"/applications/{renewal.pk}/")
    page = client.get(url).content.decode()
    assert "A renewal is under way" in page and "Renew this permit" not in page
    client.post(url + "renew/")  # twice: refused with a message, nothing more
    assert PermitApplication.all_institutions.filter(renews=permit).count() == 1


BROKEN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:civitas="https://civitas.example/bpmn"
    id="broken_defs" targetNamespace="https://civitas.example/processes">
  <bpmn:process id="broken_permit" name="Broken permit" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="precheck" name="Pre-check" civitas:role="civil_servant">
      <bpmn:extensionElements><civitas:field name="note" type="text" label="Note" /></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="gate" default="f4"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="odd"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="done"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="precheck" />
    <bpmn:sequenceFlow id="f2" sourceRef="precheck" targetRef="gate" />
    <bpmn:sequenceFlow id="f3" sourceRef="gate" targetRef="odd">
      <bpmn:conditionExpression>no_such_answer &gt; 3</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="gate" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_process_that_fails_after_it_started_hands_the_application_to_a_civil_servant(
    client, aurelia, ada, bob, alice, django_capture_on_commit_callbacks
):
    with institution_scope(aurelia):
        bpm_services.definition_upload(institution=aurelia, actor=ada, file_name="broken.bpmn", content=BROKEN)
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="broken_permit")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks)
    assert application.status == ApplicationStatus.SUBMITTED  # the process waits for its pre-check
    url = f"/i/aurelia/permits/applications/{application.pk}/"
    client.force_login(alice)
    page = client.get(url).content.decode()
    assert "Pre-check" in page and "stopped on an error" not in page
    assert "Approve and issue the permit" not in page  # the process has it, not yet a person
    with pytest.raises(InvalidTransition), institution_scope(aurelia):
        services.application_decide(application=application, actor=alice, approve=True)

    item = WorkItem.all_institutions.get(instance=application.process_instance, element_id="precheck")
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        bpm_services.work_item_complete(item=item, actor=alice, values={"note": "ok"})
    application.refresh_from_db()
    application.process_instance.refresh_from_db()
    assert application.process_instance.status == InstanceStatus.FAILED
    assert application.status == ApplicationStatus.SUBMITTED  # where it was: nothing lost

    page = client.get(url).content.decode()
    assert "stopped on an error" in page and "no_such_answer" in page
    assert "Approve and issue the permit" in page
    client.force_login(bob)
    assert "stopped on an error" not in client.get(url).content.decode()  # the staff's concern, not the applicant's
    with institution_scope(aurelia):
        services.application_decide(application=application, actor=alice, approve=True)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ISSUED
    assert Permit.all_institutions.filter(application=application, status=PermitStatus.ACTIVE).count() == 1


def test_the_applicant_reads_the_step_their_application_waits_at(
    client, aurelia, ada, bob, alice, django_capture_on_commit_callbacks
):
    upload(aurelia, ada, "building_permit.bpmn")
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada), process_key="building_permit")
    application = apply(permit_type, bob, django_capture_on_commit_callbacks)
    url = f"/i/aurelia/permits/applications/{application.pk}/"
    client.force_login(bob)
    page = client.get(url).content.decode()
    assert '<p id="next-steps">Now: Pre-check the plans</p>' in page
    assert "Its process" not in page  # the staff's panel, with the instance's link
    item = WorkItem.all_institutions.get(instance=application.process_instance, element_id="precheck")
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        bpm_services.work_item_complete(item=item, actor=alice, values={"heritage_zone": "false"})
    assert "Now: Agents review; a civil servant confirms" in client.get(url).content.decode()
    client.force_login(alice)
    page = client.get(url).content.decode()
    assert "Its process" in page and 'id="next-steps"' not in page

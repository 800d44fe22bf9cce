"""Instances end to end through the services: user tasks, gateways, locking, timers, service tasks."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.bpm import services
from apps.bpm.models import (
    CallStatus,
    InstanceEvent,
    InstanceStatus,
    ProcessInstance,
    ServiceCall,
    WorkItem,
    WorkItemStatus,
)
from apps.bpm.tests.factories import start, upload
from apps.tenancy.scope import institution_scope
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db


def _actions(instance) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_type="bpm.processinstance", target_id=str(instance.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )


def _item(instance, element_id):
    return WorkItem.all_institutions.get(instance=instance, element_id=element_id, status__in=["open", "claimed"])


@pytest.mark.parametrize(("approved", "end"), [(True, "end_approved"), (False, "end_refused")])
def test_a_user_task_and_an_exclusive_gateway_run_end_to_end(aurelia, ada, alice, approved, end):
    version = upload(aurelia, ada)
    instance = start(version, alice, {"crowd": 600})
    assert instance.status == InstanceStatus.RUNNING
    assert instance.active_elements == ["review"]
    item = _item(instance, "review")
    assert item.role == "civil_servant" and item.name == "Review the application"
    with institution_scope(aurelia):
        services.work_item_claim(item=item, actor=alice)
        services.work_item_complete(item=item, actor=alice, values={"approved": approved, "comment": "ok"})
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.active_elements == []
    actions = _actions(instance)
    assert actions[0] == "bpm.instance_start"
    for expected in ("bpm.script_run", "bpm.task_claim", "bpm.task_complete", "bpm.gateway_taken", "bpm.end_event"):
        assert expected in actions
    assert actions[-1] == "bpm.instance_complete"
    gateway = AuditEvent.objects.get(target_id=str(instance.pk), action="bpm.gateway_taken")
    assert gateway.changes["to"] == [end]
    final = InstanceEvent.all_institutions.get(instance=instance, action="bpm.instance_complete").details["data"]
    assert final["fee"] == 1200 and final["large"] is True and final["approved"] is approved


def test_a_form_with_bad_values_changes_nothing(aurelia, ada, alice):
    instance = start(upload(aurelia, ada), alice, {"crowd": 10})
    item = _item(instance, "review")
    before = (instance.revision, AuditEvent.objects.count())
    with institution_scope(aurelia), pytest.raises(ValidationFailed) as caught:
        services.work_item_complete(item=item, actor=alice, values={"approved": "maybe", "shell": "rm"})
    assert set(caught.value.extra["errors"]) == {"approved", "shell"}
    instance.refresh_from_db()
    item.refresh_from_db()
    assert (instance.revision, AuditEvent.objects.count()) == before
    assert item.status == WorkItemStatus.OPEN


def test_a_stale_instance_is_a_conflict_and_changes_nothing(aurelia, ada, alice):
    instance = start(upload(aurelia, ada, "parallel.bpmn"), ada, {})
    stale = ProcessInstance.all_institutions.get(pk=instance.pk)
    with institution_scope(aurelia):
        services.work_item_complete(item=_item(instance, "check_site"), actor=alice, values={"site_ok": True})
        before = AuditEvent.objects.count()
        fee = _item(instance, "check_fee")
        with pytest.raises(Conflict):
            services.work_item_complete(item=fee, actor=ada, values={"fee_paid": "yes"}, instance=stale)
    fee.refresh_from_db()
    assert fee.status == WorkItemStatus.OPEN
    assert AuditEvent.objects.count() == before


def test_parallel_branches_join_and_each_role_sees_its_own_queue(aurelia, ada, alice):
    from apps.bpm import selectors

    instance = start(upload(aurelia, ada, "parallel.bpmn"), ada, {})
    assert instance.active_elements == ["check_fee", "check_site"]
    alice_queue = selectors.queue(institution=aurelia, roles={"civil_servant"})
    assert [i.element_id for i in alice_queue] == ["check_site"]
    admin_queue = selectors.queue(institution=aurelia, roles={"institution_admin"})
    assert sorted(i.element_id for i in admin_queue) == ["check_fee", "check_site"]
    with institution_scope(aurelia):
        with pytest.raises(PermissionDenied):
            services.work_item_claim(item=_item(instance, "check_fee"), actor=alice)
        services.work_item_complete(item=_item(instance, "check_site"), actor=alice, values={"site_ok": True})
        instance.refresh_from_db()
        assert instance.status == InstanceStatus.RUNNING
        services.work_item_complete(item=_item(instance, "check_fee"), actor=ada, values={"fee_paid": "yes"})
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert InstanceEvent.all_institutions.get(instance=instance, action="bpm.instance_complete").details["data"][
        "ready"
    ]


def test_claims_and_reassignment(aurelia, ada, alice, bob):
    from apps.tenancy.models import Role
    from portal.testing import UserFactory, member

    dora = member(UserFactory(username="dora"), aurelia, Role.CIVIL_SERVANT)
    instance = start(upload(aurelia, ada), alice, {"crowd": 1})
    item = _item(instance, "review")
    with institution_scope(aurelia):
        services.work_item_claim(item=item, actor=alice)
        with pytest.raises(Conflict):
            services.work_item_claim(item=item, actor=dora)
        with pytest.raises(PermissionDenied):
            services.work_item_complete(item=WorkItem.objects.get(pk=item.pk), actor=dora, values={"approved": True})
        with pytest.raises(PermissionDenied):
            services.work_item_reassign(item=item, actor=alice, assignee=dora)
        with pytest.raises(ValidationFailed):
            services.work_item_reassign(item=item, actor=ada, assignee=bob)  # a citizen
        services.work_item_reassign(item=item, actor=ada, assignee=dora)
        item.refresh_from_db()
        assert item.assignee == dora
        services.work_item_complete(item=item, actor=dora, values={"approved": True})
    item.refresh_from_db()
    assert item.status == WorkItemStatus.COMPLETED and item.completed_by == dora
    assert "bpm.task_reassign" in _actions(instance)


def test_citizens_cannot_start_or_work_processes(aurelia, ada, alice, bob):
    version = upload(aurelia, ada)
    with institution_scope(aurelia), pytest.raises(PermissionDenied):
        services.instance_start(definition=version.definition, actor=bob, data={})
    instance = start(version, alice, {"crowd": 1})
    with institution_scope(aurelia), pytest.raises(PermissionDenied):
        services.work_item_complete(item=_item(instance, "review"), actor=bob, values={"approved": True})


def test_a_failing_expression_fails_the_instance_visibly(aurelia, ada, alice):
    instance = start(upload(aurelia, ada), alice, {})  # no crowd: the script cannot compute the fee
    assert instance.status == InstanceStatus.FAILED
    assert "crowd" in instance.error
    assert _actions(instance)[-1] == "bpm.instance_fail"


def test_timers_fire_from_beat_with_a_controlled_clock(aurelia, ada, alice):
    instance = start(upload(aurelia, ada, "timer.bpmn"), alice, {})
    assert instance.next_timer_at is not None
    assert services.timers_fire_due(now=timezone.now()) == 0  # not due yet
    instance.refresh_from_db()
    assert instance.active_elements == ["decide_in_time", "sla"]
    later = timezone.now() + dt.timedelta(days=3)
    assert services.timers_fire_due(now=later) == 1
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert "bpm.timer_fired" in _actions(instance)
    assert "bpm.task_cancel" in _actions(instance)
    assert WorkItem.all_institutions.get(instance=instance).status == WorkItemStatus.CANCELLED
    assert InstanceEvent.all_institutions.get(instance=instance, action="bpm.instance_complete").details["data"]["late"]


def test_an_expiry_timer_waits_after_the_task_and_fires_when_due(aurelia, ada, alice):
    instance = start(upload(aurelia, ada, "timer.bpmn"), alice, {})
    with institution_scope(aurelia):
        services.work_item_complete(item=_item(instance, "decide_in_time"), actor=alice, values={})
    instance.refresh_from_db()
    assert instance.active_elements == ["valid_for"]
    assert services.timers_fire_due(now=timezone.now() + dt.timedelta(days=30)) == 0
    assert services.timers_fire_due(now=timezone.now() + dt.timedelta(days=400)) == 1
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED


# what the names of these tests resolve to (the machine has no DNS of its own for them)
ADDRESSES = {
    "registry.example.org": ["93.184.216.34"],
    "intranet.example.org": ["10.20.0.7"],
    "mixed.example.org": ["93.184.216.34", "fd00::1"],
}


@pytest.fixture(autouse=True)
def _dns(monkeypatch):
    import socket

    def getaddrinfo(host, port, *args, **kwargs):
        import ipaddress

        try:
            addresses = [str(ipaddress.ip_address(host))]  # a literal address resolves to itself
        except ValueError:
            addresses = {**ADDRESSES, "localhost": ["127.0.0.1"]}.get(host)
        if addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    monkeypatch.setattr("apps.bpm.actions_builtin.socket.getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "https://100.64.0.1/hook",  # shared address space
        "https://intranet.example.org/hook",  # a public name for a private address
        "https://mixed.example.org/hook",  # one private address among public ones is enough
        "https://nowhere.example.org/hook",  # does not resolve
        "http://registry.example.org/hook",
        "ftp://registry.example.org/hook",
        "https:///hook",
    ],
)
def test_a_webhook_never_reaches_the_node_s_own_network(url, settings):
    from apps.bpm.actions import ActionFailed
    from apps.bpm.actions_builtin import webhook_target

    settings.DEBUG = False
    with pytest.raises(ActionFailed):
        webhook_target(url)


def test_a_webhook_goes_to_public_hosts_or_to_those_the_operator_allows(settings):
    from apps.bpm.actions import ActionFailed
    from apps.bpm.actions_builtin import webhook_target

    settings.DEBUG = False
    target = webhook_target("https://registry.example.org/hook?x=1")
    assert (target.address, target.host, target.port, target.path) == (
        "93.184.216.34",
        "registry.example.org",
        443,
        "/hook?x=1",
    )
    settings.CIVITAS_BPM_WEBHOOK_HOSTS = ["intranet.example.org"]  # the operator names an internal host
    assert webhook_target("https://intranet.example.org/hook")
    with pytest.raises(ActionFailed, match="allows"):
        webhook_target("https://registry.example.org/hook")  # a list, once given, is the only way out
    settings.CIVITAS_BPM_WEBHOOK_HOSTS = []
    settings.DEBUG = True  # development: plain http to this machine, for a receiver on the laptop
    assert webhook_target("http://127.0.0.1:9000/hook")
    with pytest.raises(ActionFailed):
        webhook_target("http://registry.example.org/hook")


def test_a_webhook_is_delivered_signed_to_a_receiver_on_this_machine(aurelia, settings):
    """A real POST over a socket (development: plain http to loopback): the receiver gets the body, its
    signature checks with the institution's key, and its JSON answer comes back."""
    import hashlib
    import hmac
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from types import SimpleNamespace

    from apps.bpm.actions_builtin import webhook, webhook_secret

    received = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            received["headers"] = dict(self.headers)
            answer = b'{"case": "R-17"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.DEBUG = True
    call = SimpleNamespace(instance_id=5, element_id="tell", pk=9, institution=aurelia)
    try:
        answer = webhook(call=call, params={"url": f"http://localhost:{server.server_port}/hook", "payload": {"a": 1}})
    finally:
        server.shutdown()
        server.server_close()
    assert answer == {"case": "R-17"}
    assert json.loads(received["body"]) == {"data": {"a": 1}, "delivery": 9, "process_instance": 5, "step": "tell"}
    expected = hmac.new(webhook_secret(aurelia).encode(), received["body"], hashlib.sha256).hexdigest()
    assert received["headers"]["X-Civitas-Signature"] == f"sha256={expected}"
    assert received["headers"]["Host"] == f"localhost:{server.server_port}"


def test_the_connection_goes_to_the_address_that_was_checked(aurelia, settings):
    """DNS rebinding: a second lookup could answer with a private address; the connection uses the first
    one's checked address, and TLS still verifies the certificate for the name."""
    from types import SimpleNamespace

    from apps.bpm.actions_builtin import webhook

    settings.DEBUG = False
    pools = []

    class Pool:
        def __init__(self, host, port, **kwargs):
            pools.append((host, port, kwargs))

        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

        def urlopen(self, method, path, **kwargs):
            pools.append((method, path, kwargs["headers"]["Host"]))
            return SimpleNamespace(status=204, read=lambda n: b"", release_conn=lambda: None)

    call = SimpleNamespace(instance_id=1, element_id="hook", pk=2, institution=aurelia)
    with mock.patch("urllib3.HTTPSConnectionPool", Pool):
        assert webhook(call=call, params={"url": "https://registry.example.org/hooks?x=1"}) == {}
    (host, port, kwargs), (method, path, host_header) = pools
    assert (host, port) == ("93.184.216.34", 443)
    assert kwargs["server_hostname"] == kwargs["assert_hostname"] == "registry.example.org"
    assert kwargs["cert_reqs"] == "CERT_REQUIRED" and kwargs["retries"] is False
    assert (method, path, host_header) == ("POST", "/hooks?x=1", "registry.example.org")


ANSWER = (200, b'{"registered": true}')
DELIVER = "apps.bpm.actions_builtin._deliver"


def test_service_tasks_run_as_celery_tasks_and_the_instance_goes_on(
    aurelia, ada, alice, django_capture_on_commit_callbacks
):
    from apps.notifications.models import Notification

    version = upload(aurelia, ada, "service.bpmn")
    with (
        mock.patch(DELIVER, return_value=ANSWER) as post,
        django_capture_on_commit_callbacks(execute=True),
    ):
        instance = start(version, ada, {"applicant": "Clara"})
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    with institution_scope(aurelia):
        assert Notification.objects.filter(recipient=alice, title="New application from Clara").exists()
    (target,), kwargs = post.call_args
    assert target.url == "https://registry.example.org/hooks/civitas" and target.address == "93.184.216.34"
    assert kwargs["headers"]["X-Civitas-Signature"].startswith("sha256=")
    assert b'"applicant":"Clara"' in kwargs["body"]
    assert list(ServiceCall.all_institutions.values_list("status", flat=True)) == [CallStatus.DONE] * 2
    actions = _actions(instance)
    assert actions.count("bpm.service_task_run") == 2
    data = InstanceEvent.all_institutions.get(instance=instance, action="bpm.instance_complete").details["data"]
    assert data["notified"] == 1 and data["registered"] is True


def test_a_service_call_runs_once(aurelia, ada, django_capture_on_commit_callbacks):
    version = upload(aurelia, ada, "service.bpmn")
    with mock.patch(DELIVER, return_value=ANSWER):
        with django_capture_on_commit_callbacks(execute=True):
            start(version, ada, {"applicant": "Clara"})
        call = ServiceCall.all_institutions.get(element_id="tell")
        before = AuditEvent.objects.count()
        with institution_scope(aurelia):
            services.service_call_run(call=call)  # a redelivered task
    assert AuditEvent.objects.count() == before


def test_a_webhook_to_plain_http_fails_the_instance(aurelia, ada, django_capture_on_commit_callbacks):
    content = upload.__globals__["bpmn"]("service.bpmn").replace(
        b"https://registry.example.org", b"http://registry.example.org"
    )
    with institution_scope(aurelia):
        version = services.definition_upload(institution=aurelia, actor=ada, file_name="s.bpmn", content=content)
    with mock.patch(DELIVER) as post, django_capture_on_commit_callbacks(execute=True):
        instance = start(version, ada, {"applicant": "Clara"})
    post.assert_not_called()
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.FAILED
    assert "https" in instance.error
    assert ServiceCall.all_institutions.get(element_id="hook").status == CallStatus.FAILED


def test_a_completed_instance_takes_no_more_steps(aurelia, ada, alice):
    instance = start(upload(aurelia, ada), alice, {"crowd": 1})
    item = _item(instance, "review")
    with institution_scope(aurelia):
        services.work_item_complete(item=item, actor=alice, values={"approved": True})
        item.refresh_from_db()
        with pytest.raises(InvalidTransition):
            services.work_item_complete(item=item, actor=alice, values={"approved": False})


def test_a_running_instance_moves_to_a_newer_version_when_the_change_allows_it(aurelia, ada, alice):
    from apps.bpm.tests.factories import bpmn

    instance = start(upload(aurelia, ada), alice, {"crowd": 10})
    changed = bpmn("review_gateway.bpmn").replace(b'name="Refused"', b'name="Refused, with reasons"')
    with institution_scope(aurelia):
        v2 = services.definition_upload(institution=aurelia, actor=ada, file_name="v2.bpmn", content=changed)
        with pytest.raises(PermissionDenied):
            services.instance_migrate(instance=instance, version=v2, actor=alice)
        services.instance_migrate(instance=instance, version=v2, actor=ada)
    instance.refresh_from_db()
    assert instance.version == v2 and instance.active_elements == ["review"]
    assert "bpm.instance_migrate" in _actions(instance)
    with institution_scope(aurelia):
        services.work_item_complete(item=_item(instance, "review"), actor=alice, values={"approved": False})
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED


def test_an_instance_does_not_move_when_its_step_is_gone(aurelia, ada, alice):
    from apps.bpm.tests.factories import bpmn

    instance = start(upload(aurelia, ada), alice, {"crowd": 10})
    renamed = bpmn("review_gateway.bpmn").replace(b'"review"', b'"assess"')
    with institution_scope(aurelia):
        v2 = services.definition_upload(institution=aurelia, actor=ada, file_name="v2.bpmn", content=renamed)
        before = (instance.revision, AuditEvent.objects.count())
        with pytest.raises(InvalidTransition) as caught:
            services.instance_migrate(instance=instance, version=v2, actor=ada)
    assert "Review the application" in caught.value.message
    instance.refresh_from_db()
    assert instance.version.number == 1 and (instance.revision, AuditEvent.objects.count()) == before


def test_the_engine_state_survives_a_database_that_reorders_json_keys(aurelia, ada, alice):
    """PostgreSQL's jsonb does not keep key order; SpiffWorkflow restores task data as deltas
    from the parent in mapping order, so children listed before parents would lose their data."""
    from apps.bpm.services import _workflow_load

    instance = start(upload(aurelia, ada), alice, {"crowd": 900})
    instance.state = {**instance.state, "tasks": dict(reversed(list(instance.state["tasks"].items())))}
    (task,) = [t for t in _workflow_load(instance).get_tasks() if t.task_spec.bpmn_id == "review"]
    assert task.data["fee"] == 1800 and task.data["crowd"] == 900


def test_the_audit_log_keeps_digests_of_what_people_entered_not_the_values(aurelia, ada, alice):
    instance = start(upload(aurelia, ada), alice, {"crowd": 3, "applicant": "Clara Example"})
    with institution_scope(aurelia):
        services.work_item_complete(
            item=_item(instance, "review"), actor=alice, values={"approved": True, "comment": "ok"}
        )
    logged = AuditEvent.objects.filter(target_id=str(instance.pk), target_type="bpm.processinstance")
    assert "Clara Example" not in str(list(logged.values_list("changes", flat=True)))
    started = logged.get(action="bpm.instance_start").changes
    assert started["data"].startswith("sha256:") and started["version"] == 1
    history = InstanceEvent.all_institutions.get(instance=instance, action="bpm.instance_start")
    assert history.details["data"]["applicant"] == "Clara Example"


def test_a_bug_in_an_action_fails_the_instance_instead_of_hanging_it(
    aurelia, ada, alice, django_capture_on_commit_callbacks
):
    version = upload(aurelia, ada, "service.bpmn")  # alice, a civil servant, is whom it notifies
    with (
        mock.patch("apps.notifications.services.notification_send", side_effect=KeyError("boom")),
        mock.patch(DELIVER) as post,
        django_capture_on_commit_callbacks(execute=True),
    ):
        instance = start(version, ada, {"applicant": "Clara"})
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.FAILED and "KeyError" in instance.error
    assert ServiceCall.all_institutions.get(element_id="tell").status == CallStatus.FAILED
    post.assert_not_called()  # the next step never ran

"""Live progress of a cluster run over the websocket (apps/agents/consumers.py, clusters/live.py).

The contract static/js/cluster_run.js relies on: the state on connect, then one message
per change, the socket closed by the server once the run has finished; nobody else joins.
"""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

from apps.agents import tasks
from apps.agents.clusters import live, redteam, services
from apps.agents.models import ClusterRun, ClusterRunStatus
from apps.tenancy.models import Role
from apps.tenancy.scope import institution_scope
from portal.asgi import application
from portal.testing import UserFactory, member, websocket_headers

STATE_KEYS = {"event", "run", "status", "progress", "stage_count", "finished"}


@pytest.fixture(autouse=True)
def _redteam_engine():
    yield
    redteam.forget_engine()


def _cluster(institution, admin, stages=2):
    agents = [redteam.make_agent(institution, admin, f"Live {i}") for i in range(stages)]
    with institution_scope(institution):
        return services.cluster_create(
            institution=institution,
            actor=admin,
            name="Live",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
        )


def _queued_run(cluster, actor) -> ClusterRun:
    """A run left queued: the test moves it stage by stage by calling the services."""
    with institution_scope(cluster.institution):
        return services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=actor)


@pytest.fixture
def no_worker(monkeypatch):
    # Celery is eager in tests: without this, committing the start would run the whole run.
    monkeypatch.setattr(tasks.cluster_stage, "delay", lambda **kwargs: None)


async def _connect(user, path):
    communicator = WebsocketCommunicator(application, path, headers=await sync_to_async(websocket_headers)(user))
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


def _path(institution, run_id) -> str:
    return f"/ws/i/{institution.slug}/agents/runs/{run_id}/"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_reader_gets_the_state_then_each_change_until_the_run_is_decided(aurelia, ada, alice, no_worker):
    cluster = await sync_to_async(_cluster)(aurelia, ada)
    run = await sync_to_async(_queued_run)(cluster, ada)
    communicator, connected, _ = await _connect(alice, _path(aurelia, run.pk))
    assert connected

    state = await communicator.receive_json_from(timeout=5)
    assert state == {
        "event": "state",
        "run": run.pk,
        "status": "queued",
        "progress": 0,
        "stage_count": 2,
        "finished": False,
    }

    def stage(index):
        with institution_scope(aurelia):
            return services.cluster_stage_execute(run=run, stage_index=index)

    assert await sync_to_async(stage)(0) is True
    proposal = await communicator.receive_json_from(timeout=5)
    progress = await communicator.receive_json_from(timeout=5)
    assert set(proposal) == STATE_KEYS
    assert (proposal["event"], proposal["status"], proposal["progress"]) == ("proposal", "running", 0)
    assert (progress["event"], progress["progress"], progress["finished"]) == ("progress", 1, False)
    assert await communicator.receive_nothing(timeout=0.2)

    await sync_to_async(stage)(1)
    assert [(await communicator.receive_json_from(timeout=5))["event"] for _ in range(2)] == ["proposal", "progress"]

    def finalise():
        with institution_scope(aurelia):
            return services.cluster_run_finalise(run=run)

    decided = await sync_to_async(finalise)()
    assert decided.status == ClusterRunStatus.DECIDED
    final = await communicator.receive_json_from(timeout=5)
    assert final == {**state, "event": "finished", "status": "decided", "progress": 2, "finished": True}
    # nothing more can happen to the run: the server lets the socket go
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_failed_run_is_announced_and_a_finished_run_sends_its_state_and_closes(aurelia, ada, alice, no_worker):
    cluster = await sync_to_async(_cluster)(aurelia, ada, stages=1)
    run = await sync_to_async(_queued_run)(cluster, ada)
    communicator, connected, _ = await _connect(ada, _path(aurelia, run.pk))  # admin and auditor: a reader
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["status"] == "queued"

    def fail():
        with institution_scope(aurelia):
            return services.cluster_run_fail(run=run, error="disk on fire")

    await sync_to_async(fail)()
    message = await communicator.receive_json_from(timeout=5)
    assert (message["event"], message["status"], message["finished"]) == ("finished", "failed", True)
    assert "disk on fire" not in str(message)  # the page shows the error to readers; the socket need not carry it
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"

    later, connected, _ = await _connect(alice, _path(aurelia, run.pk))
    assert connected
    assert (await later.receive_json_from(timeout=5))["status"] == "failed"
    assert (await later.receive_output(timeout=5))["type"] == "websocket.close"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_council_member_reads_but_a_citizen_of_the_institution_is_refused(aurelia, ada, bob, no_worker):
    cluster = await sync_to_async(_cluster)(aurelia, ada, stages=1)
    run = await sync_to_async(_queued_run)(cluster, ada)
    councillor = await sync_to_async(lambda: member(UserFactory(username="carmen"), aurelia, Role.COUNCIL_MEMBER))()
    communicator, connected, _ = await _connect(councillor, _path(aurelia, run.pk))
    assert connected
    await communicator.disconnect()

    refused, connected, code = await _connect(bob, _path(aurelia, run.pk))
    assert (connected, code) == (False, 4403)
    # a citizen gets the same answer for a run that does not exist: the role is checked first
    refused, connected, code = await _connect(bob, _path(aurelia, run.pk + 1000))
    assert (connected, code) == (False, 4403)
    assert await _receives_nothing_from_the_run(refused, run)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_charlie_of_another_institution_is_refused(aurelia, borealis, ada, charlie, no_worker):
    cluster = await sync_to_async(_cluster)(aurelia, ada, stages=1)
    run = await sync_to_async(_queued_run)(cluster, ada)
    communicator, connected, _ = await _connect(charlie, _path(aurelia, run.pk))
    assert not connected
    # through his own institution's route, Aurelia's run is simply not there
    communicator, connected, code = await _connect(charlie, _path(borealis, run.pk))
    assert (connected, code) == (False, 4404)
    assert await _receives_nothing_from_the_run(communicator, run)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_run_of_another_institution_and_bad_run_ids_read_as_unknown(aurelia, borealis, ada, alice, no_worker):
    beatrice = await sync_to_async(lambda: member(UserFactory(username="beatrice"), borealis, Role.INSTITUTION_ADMIN))()
    cluster = await sync_to_async(_cluster)(borealis, beatrice, stages=1)
    borealis_run = await sync_to_async(_queued_run)(cluster, beatrice)
    for run_id in (borealis_run.pk, borealis_run.pk + 1000, "abc", "0", "-1", "9" * 30, "\u0661"):
        communicator, connected, code = await _connect(alice, _path(aurelia, run_id))
        assert (connected, code) == (False, 4404), run_id
    assert await _receives_nothing_from_the_run(communicator, borealis_run)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_anonymous_visitors_are_refused(aurelia, ada, no_worker):
    cluster = await sync_to_async(_cluster)(aurelia, ada, stages=1)
    run = await sync_to_async(_queued_run)(cluster, ada)
    _, connected, _ = await _connect(None, _path(aurelia, run.pk))
    assert not connected


async def _receives_nothing_from_the_run(communicator, run) -> bool:
    """A refused socket joined no group: a change of the run reaches it not."""

    def fail():
        with institution_scope(run.institution):
            services.cluster_run_fail(run=run, error="moved while refused")

    await sync_to_async(fail)()
    return await communicator.receive_nothing(timeout=0.2)


class _BrokenLayer:
    async def group_send(self, group, message):
        raise ConnectionError("redis is down")


@pytest.mark.django_db
def test_a_broken_channel_layer_does_not_break_the_run(
    aurelia, ada, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    cluster = _cluster(aurelia, ada)
    monkeypatch.setattr(live, "get_channel_layer", lambda: _BrokenLayer())
    with (
        caplog.at_level(logging.WARNING, logger=live.__name__),
        institution_scope(aurelia),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=ada)
    run.refresh_from_db()
    assert (run.status, run.progress, run.decision) == (ClusterRunStatus.DECIDED, 2, "approve")
    failures = [r for r in caplog.records if r.name == live.__name__]
    # two proposals, two stages done, the decision: each tried once, each failure logged
    assert len(failures) == 5 and all("live update not sent" in r.getMessage() for r in failures)


@pytest.mark.django_db
def test_nothing_is_broadcast_for_a_transaction_that_rolls_back(aurelia, ada, django_capture_on_commit_callbacks):
    cluster = _cluster(aurelia, ada, stages=1)
    run = _queued_run(cluster, ada)
    with (
        institution_scope(aurelia),
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.cluster_run_fail(run=run, error="rolled back")
        raise RuntimeError
    run.refresh_from_db()
    assert run.status == ClusterRunStatus.QUEUED and callbacks == []
    with institution_scope(aurelia), django_capture_on_commit_callbacks() as callbacks:
        services.cluster_run_fail(run=run, error="committed")
    # the same call, committed, does broadcast (run listeners, e.g. permits', add their own callbacks)
    assert len([c for c in callbacks if "broadcast_run" in getattr(c, "__qualname__", "")]) == 1


@pytest.mark.django_db
def test_the_page_of_a_running_run_names_its_socket_and_keeps_polling_as_the_fallback(client, aurelia, ada, alice):
    cluster = _cluster(aurelia, ada, stages=1)
    run = _queued_run(cluster, ada)  # on_commit never fires here: the run stays queued
    client.force_login(alice)
    url = f"/i/{aurelia.slug}/agents/runs/{run.pk}/"
    body = client.get(url).content.decode()
    assert f'data-socket-path="{_path(aurelia, run.pk)}"' in body
    assert f'data-progress-url="{url}"' in body
    assert 'role="status" aria-live="polite"' in body
    assert "js/cluster_run.js" in body and "<script>" not in body  # CSP: no inline script
    assert 'hx-trigger="every 1s"' in body  # htmx polling, held back by the script while the socket is open
    assert 'data-summary="Queued: 0 of 1 stage done."' in body
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'id="run-progress"' in fragment and "data-socket-path" not in fragment and "<html" not in fragment

    with institution_scope(aurelia):
        services.cluster_run_fail(run=run, error="disk on fire")
    body = client.get(url).content.decode()
    assert "data-socket-path" not in body and "hx-trigger" not in body
    assert 'data-finished="true"' in body and 'data-summary="Failed."' in body

"""The cluster pages: list, create and edit forms, the cluster page with its runs, submitting a task, access."""

from __future__ import annotations

import pytest

from apps.agents.clusters import redteam, services
from apps.agents.models import Agent, AgentProposalRecord, AgentStatus, Cluster, ClusterRun, ClusterRunStatus
from apps.audit.models import AuditEvent
from apps.tenancy.models import Role
from apps.tenancy.scope import institution_scope
from portal.testing import UserFactory, api_as, enrol_totp, member

pytestmark = pytest.mark.django_db

NODE_EVENTS = ["identity.login", "identity.logout", "identity.api_forbidden", "identity.api_auth_failed"]
BASE = "/i/aurelia/agents/clusters/"


@pytest.fixture(autouse=True)
def _redteam_engine():
    yield
    redteam.forget_engine()


def _state():
    return (
        AuditEvent.objects.exclude(action__in=NODE_EVENTS).count(),
        list(
            Cluster.all_institutions.order_by("pk").values_list(
                "pk", "name", "task_type", "stages", "allowed_decisions", "flagging_policy"
            )
        ),
        ClusterRun.all_institutions.count(),
        AgentProposalRecord.all_institutions.count(),
    )


@pytest.fixture
def agents(aurelia, ada):
    return [redteam.make_agent(aurelia, ada, f"Honest {i}") for i in range(3)]


@pytest.fixture
def draft(aurelia, ada):
    return redteam.make_agent(aurelia, ada, "Newcomer", certified=False)


@pytest.fixture
def cluster(aurelia, ada, agents):
    with institution_scope(aurelia):
        return services.cluster_create(
            institution=aurelia,
            actor=ada,
            name="Event permits",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of([agents[0]], [agents[1], agents[2]]),
            allowed_decisions=["approve", "deny"],
            flagging_policy={"high_impact": {"field": "crowd_size", "threshold": 5000}},
        )


def _queued_runs(cluster, actor, n):
    with institution_scope(cluster.institution):
        return [
            services.cluster_run_start(cluster=cluster, record={"n": i}, documents={}, actor=actor) for i in range(n)
        ]


def _form_data(agents, **overrides):
    data = {
        "name": "Market stalls",
        "task_type": redteam.TASK_TYPE,
        "allowed_decisions": "approve\ndeny\n\napprove",
        "stage_1_name": "intake",
        "stage_1_agents": [str(agents[0].uid)],
        # row 2 left blank: ignored
        "stage_3_name": "review",
        "stage_3_agents": [str(agents[1].uid), str(agents[2].uid)],
        "min_confidence": "55",
        "max_disagreement": "25.5",
        "flag_on_rejected": "on",
        "high_impact_field": "crowd_size",
        "high_impact_threshold": "1000",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- the list --------------------------------------------------------------------------


def test_every_member_reads_the_list_and_only_admins_are_offered_a_new_cluster(client, bob, alice, ada, cluster):
    _queued_runs(cluster, ada, 2)
    client.force_login(bob)
    html = client.get(BASE).content.decode()
    assert "Event permits" in html and redteam.TASK_TYPE in html
    assert "New cluster" not in html
    assert "Queued: 2" not in html  # a citizen reads no runs, not even their counts
    client.force_login(alice)
    html = client.get(BASE).content.decode()
    assert "Queued: 2" in html and "New cluster" not in html
    client.force_login(ada)
    assert f'href="{BASE}new/"' in client.get(BASE).content.decode()


def test_the_list_pins_its_queries(client, aurelia, ada, agents, django_assert_max_num_queries):
    with institution_scope(aurelia):
        for i in range(5):
            cluster = services.cluster_create(
                institution=aurelia,
                actor=ada,
                name=f"Cluster {i}",
                task_type=redteam.TASK_TYPE,
                stages=redteam.stages_of([agents[0]]),
                allowed_decisions=["approve"],
            )
            _queued_runs(cluster, ada, 3)
    client.force_login(ada)
    with django_assert_max_num_queries(12):
        response = client.get(BASE)
    assert response.status_code == 200 and response.content.decode().count("Queued: 3") == 5


def test_the_agents_list_links_to_clusters_and_an_agent_page_names_its_clusters(client, bob, cluster, agents):
    client.force_login(bob)
    assert f'href="{BASE}"' in client.get("/i/aurelia/agents/").content.decode()
    html = client.get(f"/i/aurelia/agents/{agents[1].uid}/").content.decode()
    assert f'href="{BASE}{cluster.pk}/"' in html and "Event permits" in html


# --- creating and editing ----------------------------------------------------------------


def test_a_citizen_or_civil_servant_cannot_reach_the_admin_forms(client, bob, alice, cluster, agents):
    before = _state()
    for user in (bob, alice):
        client.force_login(user)
        for path in ("new/", f"{cluster.pk}/edit/"):
            assert client.get(BASE + path).status_code == 403
            assert client.post(BASE + path, _form_data(agents)).status_code == 403
    assert _state() == before


def test_the_form_offers_only_this_institutions_agents_and_says_only_certified_ones_run(
    client, ada, agents, draft, borealis, charlie
):
    stranger = redteam.make_agent(borealis, None, "Stranger")
    client.force_login(ada)
    html = client.get(BASE + "new/").content.decode()
    assert "Honest 0" in html and "Newcomer (Draft)" in html and "Stranger" not in html
    assert str(stranger.uid) not in html
    assert "Only certified agents take part in runs" in html
    assert "<legend>Stage 8</legend>" in html and "Stage 9" not in html
    assert 'aria-describedby="stages-hint"' in html


def test_a_retired_agent_is_offered_only_to_the_cluster_that_still_has_it(client, ada, cluster, agents):
    Agent.all_institutions.filter(pk=agents[2].pk).update(status=AgentStatus.RETIRED)
    client.force_login(ada)
    assert "Honest 2" not in client.get(BASE + "new/").content.decode()
    assert "Honest 2 (Retired)" in client.get(f"{BASE}{cluster.pk}/edit/").content.decode()


def test_an_admin_creates_a_cluster_through_the_form(client, ada, aurelia, agents, draft):
    client.force_login(ada)
    data = _form_data(agents, stage_3_agents=[str(agents[1].uid), str(draft.uid)])
    response = client.post(BASE + "new/", data)
    assert response.status_code == 302, response.content.decode()
    cluster = Cluster.all_institutions.get(name="Market stalls")
    assert response["Location"] == f"{BASE}{cluster.pk}/"
    assert cluster.institution == aurelia and cluster.task_type == redteam.TASK_TYPE
    assert cluster.stages == [
        {"name": "intake", "agents": [str(agents[0].uid)]},
        {"name": "review", "agents": [str(agents[1].uid), str(draft.uid)]},
    ]
    assert cluster.allowed_decisions == ["approve", "deny"]
    assert cluster.flagging_policy == {
        "min_confidence": 0.55,
        "max_disagreement": 0.255,
        "flag_on_rejected": True,
        "flag_on_out_of_scope": False,
        "audit_sample_rate": 0.0,
        "watch_agents": [],
        "high_impact": {"field": "crowd_size", "threshold": 1000},
    }
    event = AuditEvent.objects.get(action="agents.cluster_create")
    assert event.target_id == str(cluster.pk) and event.actor_id == str(ada.pk)


def test_an_admin_edits_a_cluster_through_the_form(client, ada, cluster, agents):
    client.force_login(ada)
    html = client.get(f"{BASE}{cluster.pk}/edit/").content.decode()
    assert 'value="Event permits"' in html and 'value="crowd_size"' in html
    assert f'value="{agents[0].uid}" id="id_stage_1_agents_0" checked' in html
    assert f'value="{agents[2].uid}" id="id_stage_2_agents_2" checked' in html
    assert f'value="{agents[0].uid}" id="id_stage_2_agents_0">' in html
    data = _form_data(
        agents,
        name="Event permits",
        stage_1_name="screening",
        stage_3_name=None,
        stage_3_agents=None,
        high_impact_field="",
        high_impact_threshold="",
    )
    response = client.post(f"{BASE}{cluster.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()
    cluster.refresh_from_db()
    assert cluster.stages == [{"name": "screening", "agents": [str(agents[0].uid)]}]
    assert cluster.flagging_policy["high_impact"] is None
    event = AuditEvent.objects.get(action="agents.cluster_update")
    assert event.target_id == str(cluster.pk)
    assert "stages" in event.changes and "flagging_policy" in event.changes


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"stage_1_agents": None}, "Choose at least one agent for stage 1"),
        ({"stage_3_name": ""}, "Give stage 3 a name"),
        (
            {"stage_1_name": "", "stage_1_agents": None, "stage_3_name": "", "stage_3_agents": None},
            "Add at least one stage",
        ),
        ({"stage_1_agents": ["not-an-agent"]}, "not an agent of this institution"),
        ({"stage_1_name": "x" * 81}, "at most 80 characters"),
        ({"task_type": "Event Permits!"}, "lower-case words joined by dots"),
        ({"allowed_decisions": "\n \n"}, "List at least one decision"),
        ({"min_confidence": "150"}, "less than or equal to 100"),
        ({"high_impact_threshold": ""}, "Give the threshold"),
        ({"high_impact_field": "", "high_impact_threshold": "5"}, "Name the field"),
    ],
)
def test_a_malformed_form_says_what_is_wrong_and_changes_nothing(client, ada, cluster, agents, overrides, message):
    client.force_login(ada)
    before = _state()
    for path in ("new/", f"{cluster.pk}/edit/"):
        response = client.post(BASE + path, _form_data(agents, **overrides))
        assert response.status_code == 400
        html = response.content.decode()
        assert message in html, html
        assert "There is a problem" in html and 'aria-invalid="true"' in html
    assert _state() == before


def test_an_agent_of_another_institution_cannot_be_put_in_a_stage(client, ada, agents, borealis, cluster):
    stranger = redteam.make_agent(borealis, None, "Stranger")
    client.force_login(ada)
    before = _state()
    response = client.post(BASE + "new/", _form_data(agents, stage_1_agents=[str(stranger.uid)]))
    assert response.status_code == 400
    assert "not an agent of this institution" in response.content.decode()
    assert _state() == before


def test_a_refusal_of_the_service_is_shown_on_the_form_and_changes_nothing(client, ada, cluster, agents):
    """The name is unique per institution: only the service knows, and the form shows its word."""
    client.force_login(ada)
    before = _state()
    response = client.post(BASE + "new/", _form_data(agents, name="Event permits"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Another cluster of this institution has this name." in html
    assert 'href="#id_name"' in html  # the summary links to the field
    assert _state() == before


def test_errors_of_a_stage_group_are_tied_to_it(client, ada, agents):
    client.force_login(ada)
    html = client.post(BASE + "new/", _form_data(agents, stage_1_agents=None)).content.decode()
    assert 'href="#id_stage_1_agents_group"' in html
    assert 'id="id_stage_1_agents_group" tabindex="-1" aria-describedby="stages-hint id_stage_1_agents_error"' in html
    assert 'id="id_stage_1_agents_error"' in html


# --- the cluster page ----------------------------------------------------------------------


def test_the_cluster_page_shows_stages_policy_and_runs(client, alice, ada, cluster, agents, draft):
    run = _queued_runs(cluster, ada, 1)[0]
    client.force_login(alice)
    html = client.get(f"{BASE}{cluster.pk}/").content.decode()
    for agent in agents:
        assert f'href="/i/aurelia/agents/{agent.uid}/"' in html and agent.name in html
    assert "intake" in html and "rules" in html
    assert "combined confidence is below 60 %" in html
    assert "more than 34 % of the weighted vote" in html
    assert "crowd_size is 5000 or more" in html
    assert f'href="/i/aurelia/agents/runs/{run.pk}/"' in html and "Queued" in html
    assert "Submit a task" in html
    assert f'href="{BASE}{cluster.pk}/edit/"' not in html  # not an administrator


def test_a_citizen_reads_the_configuration_but_neither_runs_nor_the_task_form(client, bob, ada, cluster):
    run = _queued_runs(cluster, ada, 1)[0]
    client.force_login(bob)
    response = client.get(f"{BASE}{cluster.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Event permits" in html and "Honest 0" in html
    assert f"/runs/{run.pk}/" not in html and "Submit a task" not in html


def test_runs_are_paginated_newest_first(client, alice, ada, cluster, django_assert_max_num_queries):
    runs = _queued_runs(cluster, ada, 23)
    client.force_login(alice)
    with django_assert_max_num_queries(14):
        first = client.get(f"{BASE}{cluster.pk}/").content.decode()
    assert f"/runs/{runs[-1].pk}/" in first and f"/runs/{runs[3].pk}/" in first
    assert f"/runs/{runs[2].pk}/" not in first
    assert first.index(f"/runs/{runs[-1].pk}/") < first.index(f"/runs/{runs[-2].pk}/")
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = client.get(f"{BASE}{cluster.pk}/?page=2").content.decode()
    assert all(f"/runs/{run.pk}/" in second for run in runs[:3])
    assert f"/runs/{runs[3].pk}/" not in second


# --- submitting a task ---------------------------------------------------------------------


def test_a_civil_servant_submits_a_task_and_lands_on_its_run(
    client, alice, aurelia, cluster, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{BASE}{cluster.pk}/submit/",
            {"record": '{"applicant": {"age": 34, "resident": true}, "crowd_size": 120, "fee_paid": true}'},
        )
    assert response.status_code == 302
    run = ClusterRun.all_institutions.get(cluster=cluster)
    assert response["Location"] == f"/i/aurelia/agents/runs/{run.pk}/"
    assert run.submitted_by == alice and run.record["crowd_size"] == 120 and run.documents == {}
    assert run.status == ClusterRunStatus.DECIDED  # Celery is eager in tests
    assert AuditEvent.objects.filter(action="agents.cluster_run_start", target_id=str(run.pk)).count() == 1
    page = client.get(response["Location"])
    assert page.status_code == 200 and run.inputs_digest in page.content.decode()


def test_an_admin_submits_with_documents(client, ada, cluster):
    client.force_login(ada)
    response = client.post(
        f"{BASE}{cluster.pk}/submit/", {"record": '{"crowd_size": 10}', "documents": '{"site-plan": ["1", "2"]}'}
    )
    assert response.status_code == 302
    assert ClusterRun.all_institutions.get(cluster=cluster).documents == {"site-plan": ["1", "2"]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"record": '{"crowd_size": 120,}'}, "This is not valid JSON (line 1, column 20)"),
        ({"record": "[1, 2]"}, "The record must be a JSON object"),
        ({"record": '"text"'}, "The record must be a JSON object"),
        ({"record": ""}, "Give the record of the case"),
        ({"record": "{}", "documents": '["site-plan"]'}, "The documents must be a JSON object"),
        ({"record": "{}", "documents": "{site-plan: 1}"}, "This is not valid JSON"),
        ({"record": '{"blob": "' + "x" * (services.MAX_RECORD_BYTES + 1) + '"}'}, "larger than"),
    ],
)
def test_a_malformed_task_says_what_is_wrong_and_changes_nothing(client, alice, cluster, data, message):
    client.force_login(alice)
    before = _state()
    response = client.post(f"{BASE}{cluster.pk}/submit/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html, html
    assert "There is a problem" in html and "Event permits" in html  # the cluster page, with the errors
    assert _state() == before


def test_a_citizen_cannot_submit_a_task(client, bob, cluster):
    client.force_login(bob)
    before = _state()
    assert client.post(f"{BASE}{cluster.pk}/submit/", {"record": "{}"}).status_code == 403
    assert _state() == before


def test_charlie_gets_404_on_every_cluster_page_and_nothing_changes(client, charlie, ada, cluster, agents):
    _queued_runs(cluster, ada, 1)
    client.force_login(charlie)
    before = _state()
    for path in ("", "new/", f"{cluster.pk}/", f"{cluster.pk}/edit/", f"{cluster.pk}/submit/"):
        assert client.get(BASE + path).status_code == 404, path
        assert client.post(BASE + path, {**_form_data(agents), "record": "{}"}).status_code == 404, path
    assert _state() == before


def test_an_unknown_cluster_is_404_for_members(client, ada, cluster, borealis, charlie):
    with institution_scope(borealis):
        theirs = services.cluster_create(
            institution=borealis,
            actor=None,
            name="Theirs",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of([redteam.make_agent(borealis, None, "B")]),
            allowed_decisions=["approve"],
        )
    client.force_login(ada)
    before = _state()
    for path in (f"{theirs.pk}/", f"{theirs.pk}/edit/", "999999/"):
        assert client.get(BASE + path).status_code == 404
    assert client.post(f"{BASE}{theirs.pk}/submit/", {"record": "{}"}).status_code == 404
    assert _state() == before


# --- the API lists runs too ----------------------------------------------------------------


def test_api_lists_a_clusters_runs_for_readers(
    alice, bob, charlie, ada, aurelia, cluster, django_assert_max_num_queries
):
    runs = _queued_runs(cluster, ada, 3)
    url = f"/api/v1/institutions/aurelia/agents/clusters/{cluster.pk}/runs/"
    client = api_as(alice)
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and [r["id"] for r in body["results"]] == [r.pk for r in reversed(runs)]
    assert body["results"][0]["status"] == "queued" and "record" not in body["results"][0]
    assert api_as(bob).get(url).status_code == 403
    assert api_as(charlie).get(url).status_code == 404


def test_api_a_council_member_reads_runs_but_cannot_submit(aurelia, ada, cluster):
    carmen = member(UserFactory(username="carmen"), aurelia, Role.COUNCIL_MEMBER)
    enrol_totp(carmen)
    _queued_runs(cluster, ada, 1)
    before = _state()
    url = f"/api/v1/institutions/aurelia/agents/clusters/{cluster.pk}/runs/"
    client = api_as(carmen)
    assert client.get(url).json()["count"] == 1
    assert client.post(url, {"record": {"crowd_size": 1}}, format="json").status_code == 403
    assert _state() == before

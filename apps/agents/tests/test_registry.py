"""The agent registry: register, version, kill switch, certification by threshold, model cards, access."""

from __future__ import annotations

import pytest
from django.http import Http404

from apps.agents import selectors, services
from apps.agents.models import Agent, AgentStatus, AgentVersion, ModelCard
from apps.audit.models import AuditEvent
from apps.identity.did import did_key_from_public_key
from apps.identity.models import KeyOwnerType, SigningKey
from apps.tenancy.models import Role
from apps.tenancy.scope import institution_scope
from apps.trust import services as trust_services
from apps.trust.models import ActType, ProposalStatus, ThresholdPolicy, ThresholdProposal
from apps.trust.tests.factories import admin_of
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from portal.testing import InstitutionFactory, api_as, enrol_totp, member

pytestmark = pytest.mark.django_db

NODE_EVENTS = ["identity.login", "identity.logout", "identity.api_forbidden", "identity.api_auth_failed"]
RULES_CONFIG = {"rules": [{"when": "age >= 18", "then": "eligible"}]}


def _register(institution, actor, **overrides):
    fields = {
        "name": "Intake",
        "purpose": "Checks that an application is complete.",
        "capabilities": ["permits.intake"],
        "autonomy_level": 1,
        "engine": "rules",
        "config": RULES_CONFIG,
    }
    fields.update(overrides)
    with institution_scope(institution):
        return services.agent_register(institution=institution, actor=actor, **fields)


def _events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def _state():
    return (
        # logins and refused API calls are node-wide audit events by design; the rest must not move
        AuditEvent.objects.exclude(action__in=NODE_EVENTS).count(),
        list(Agent.all_institutions.order_by("pk").values_list("pk", "name", "status", "version", "config")),
        AgentVersion.all_institutions.count(),
        list(ModelCard.all_institutions.order_by("pk").values_list("pk", "public", "purpose")),
        ThresholdProposal.all_institutions.count(),
    )


@pytest.fixture
def agent(aurelia, ada):
    return _register(aurelia, ada)


@pytest.fixture
def ministry(db):
    return InstitutionFactory(name="Ministry of the Interior", slug="ministry-interior")


@pytest.fixture
def beatrice(borealis):
    return admin_of(borealis, "beatrice")


@pytest.fixture
def ines(ministry):
    return admin_of(ministry, "ines")


@pytest.fixture
def certification_policy(aurelia, borealis, ministry):
    return trust_services.threshold_policy_create(
        name="Certification of agents", act_type=ActType.CERTIFY_AGENT, k=2, authorities=[aurelia, borealis, ministry]
    )


def _certify(agent, *, ada, beatrice, borealis):
    with institution_scope(agent.institution):
        proposal = services.agent_certification_propose(agent=agent, actor=ada)
        trust_services.threshold_proposal_sign(proposal=proposal, authority=agent.institution, actor=ada)
    with institution_scope(borealis):
        trust_services.threshold_proposal_sign(proposal=proposal, authority=borealis, actor=beatrice)
    agent.refresh_from_db()
    return proposal


# --- registering and versions ----------------------------------------------------------


def test_register_gives_a_draft_agent_its_own_key_did_version_and_card(agent, aurelia, ada):
    key = SigningKey.objects.get(owner_type=KeyOwnerType.AGENT, owner_id=str(agent.uid))
    assert agent.did == did_key_from_public_key(bytes(key.public_key))
    assert agent.status == AgentStatus.DRAFT and agent.version == 1
    with institution_scope(aurelia):
        versions = list(selectors.agent_versions(institution=aurelia, agent=agent))
        assert [v.number for v in versions] == [1]
        assert versions[0].config == RULES_CONFIG and versions[0].changed_by == ada
        assert ModelCard.objects.get(agent=agent).public is False
    assert _events("agents.agent.register") == 1


def test_update_makes_a_new_version_only_when_engine_or_config_change(agent, aurelia, ada):
    fields = {
        "name": "Intake",
        "purpose": "Checks completeness and flags missing documents.",
        "capabilities": ["permits.intake"],
        "autonomy_level": 1,
        "engine": "rules",
        "config": RULES_CONFIG,
    }
    with institution_scope(aurelia):
        services.agent_update(agent=agent, actor=ada, **fields)
        agent.refresh_from_db()
        assert agent.version == 1 and "flags missing" in agent.purpose
        services.agent_update(agent=agent, actor=ada, **{**fields, "config": {"rules": []}})
        services.agent_update(agent=agent, actor=ada, **{**fields, "config": {"rules": []}, "engine": "statistical"})
        agent.refresh_from_db()
        numbers = [(v.number, v.engine) for v in selectors.agent_versions(institution=aurelia, agent=agent)]
    assert agent.version == 3
    assert numbers == [(3, "statistical"), (2, "rules"), (1, "rules")]
    assert _events("agents.agent.update") == 3


def test_a_certified_agent_whose_config_changes_is_a_draft_again(
    agent, aurelia, borealis, ada, beatrice, certification_policy
):
    _certify(agent, ada=ada, beatrice=beatrice, borealis=borealis)
    assert agent.status == AgentStatus.CERTIFIED
    with institution_scope(aurelia):
        services.agent_update(
            agent=agent,
            actor=ada,
            name=agent.name,
            purpose=agent.purpose,
            capabilities=agent.capabilities,
            autonomy_level=agent.autonomy_level,
            engine=agent.engine,
            config={"rules": []},
        )
    agent.refresh_from_db()
    assert agent.status == AgentStatus.DRAFT and agent.version == 2
    assert selectors.agents_available_for(institution=aurelia, task_type="permits.intake") == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"capabilities": []}, "capabilities"),
        ({"capabilities": ["Permits Intake!"]}, "capabilities"),
        ({"autonomy_level": 3}, "autonomy_level"),
        ({"engine": "oracle"}, "engine"),
        ({"config": ["not", "an", "object"]}, "config"),
        ({"config": {"api_key": "sk-live-123"}}, "config"),
        ({"config": {"endpoint": {"token": "abc"}}}, "config"),
        ({"config": {"api_key_env": "sk-live-123"}}, "config"),
        ({"config": {"headers": ["Bearer abc.def"]}}, "config"),
    ],
)
def test_bad_input_is_refused_clearly_and_nothing_changes(aurelia, ada, overrides, field):
    before = _state()
    with pytest.raises(ValidationFailed) as caught:
        _register(aurelia, ada, **overrides)
    assert field in caught.value.extra["errors"]
    assert _state() == before
    assert not SigningKey.objects.filter(owner_type=KeyOwnerType.AGENT).exists()


def test_a_secret_is_named_by_its_environment_variable(aurelia, ada):
    agent = _register(aurelia, ada, engine="llm", config={"endpoint": "https://llm.example", "api_key_env": "LLM_KEY"})
    assert agent.config["api_key_env"] == "LLM_KEY"


def test_names_are_unique_per_institution(agent, aurelia, ada):
    before = _state()
    with pytest.raises(Conflict):
        _register(aurelia, ada, name="intake")
    assert _state() == before


def test_only_administrators_manage_agents(agent, aurelia, alice, bob):
    before = _state()
    for person in (alice, bob):
        with pytest.raises(PermissionDenied):
            _register(aurelia, person, name="Other")
        with institution_scope(aurelia), pytest.raises(PermissionDenied):
            services.agent_suspend(agent=agent, actor=person, reason="no")
    assert _state() == before


# --- the kill switch and availability ----------------------------------------------------


def test_only_certified_agents_with_the_capability_are_available(
    aurelia, borealis, ada, beatrice, certification_policy
):
    intake = _register(aurelia, ada)
    risk = _register(aurelia, ada, name="Risk", capabilities=["benefits.risk_score"], engine="statistical")
    draft = _register(aurelia, ada, name="Draft intake")
    _certify(intake, ada=ada, beatrice=beatrice, borealis=borealis)
    _certify(risk, ada=ada, beatrice=beatrice, borealis=borealis)
    assert selectors.agents_available_for(institution=aurelia, task_type="permits.intake") == [intake]
    assert selectors.agents_available_for(institution=aurelia, task_type="benefits.risk_score") == [risk]
    assert selectors.agents_available_for(institution=aurelia, task_type="permits.payment") == []
    assert selectors.agents_available_for(institution=borealis, task_type="permits.intake") == []
    assert draft not in selectors.agents_available_for(institution=aurelia, task_type="permits.intake")


def test_the_kill_switch_stops_the_agent_at_once_and_is_audited(aurelia, borealis, ada, beatrice, certification_policy):
    agent = _register(aurelia, ada)
    _certify(agent, ada=ada, beatrice=beatrice, borealis=borealis)
    stale = Agent.all_institutions.get(pk=agent.pk)  # what a running cluster holds
    assert selectors.agent_is_active(stale)
    with institution_scope(aurelia):
        services.agent_suspend(agent=agent, actor=ada, reason="Wrong decisions on 3 cases")
    assert not selectors.agent_is_active(stale)
    assert selectors.agents_available_for(institution=aurelia, task_type="permits.intake") == []
    event = AuditEvent.objects.get(action="agents.agent.suspend")
    assert event.changes["reason"] == "Wrong decisions on 3 cases" and event.changes["from"] == "certified"
    with institution_scope(aurelia):
        services.agent_reinstate(agent=agent, actor=ada)
    agent.refresh_from_db()
    assert agent.status == AgentStatus.CERTIFIED and selectors.agent_is_active(agent)
    with institution_scope(aurelia):
        services.agent_retire(agent=agent, actor=ada, reason="Replaced")
        with pytest.raises(InvalidTransition):
            services.agent_reinstate(agent=agent, actor=ada)
    assert selectors.agents_available_for(institution=aurelia, task_type="permits.intake") == []


def test_suspension_needs_a_reason_and_a_retired_agent_stays_retired(agent, aurelia, ada):
    before = _state()
    with institution_scope(aurelia), pytest.raises(ValidationFailed):
        services.agent_suspend(agent=agent, actor=ada, reason="  ")
    assert _state() == before
    with institution_scope(aurelia):
        services.agent_retire(agent=agent, actor=ada)
        before = _state()
        for change in (services.agent_suspend, services.agent_retire):
            with pytest.raises(InvalidTransition):
                change(agent=agent, actor=ada, reason="again")
    assert _state() == before


# --- certification by threshold approval ---------------------------------------------------


def test_certification_takes_k_signatures(agent, aurelia, borealis, ada, beatrice, certification_policy):
    with institution_scope(aurelia):
        proposal = services.agent_certification_propose(agent=agent, actor=ada)
        assert proposal.payload["did"] == agent.did and proposal.payload["version"] == 1
        trust_services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
    agent.refresh_from_db()
    assert agent.status == AgentStatus.DRAFT
    with institution_scope(borealis):
        trust_services.threshold_proposal_sign(proposal=proposal, authority=borealis, actor=beatrice)
    agent.refresh_from_db()
    assert agent.status == AgentStatus.CERTIFIED
    proposal = ThresholdProposal.all_institutions.get(pk=proposal.pk)
    assert proposal.status == ProposalStatus.APPROVED and proposal.effect_result["status"] == "certified"
    assert _events("agents.agent.certify") == 1


def test_certification_is_refused_when_the_agent_changed_meanwhile(
    agent, aurelia, borealis, ada, beatrice, certification_policy
):
    with institution_scope(aurelia):
        proposal = services.agent_certification_propose(agent=agent, actor=ada)
        trust_services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=ada)
        services.agent_update(
            agent=agent,
            actor=ada,
            name=agent.name,
            purpose=agent.purpose,
            capabilities=agent.capabilities,
            autonomy_level=agent.autonomy_level,
            engine=agent.engine,
            config={"rules": []},
        )
    with institution_scope(borealis), pytest.raises(Conflict):
        trust_services.threshold_proposal_sign(proposal=proposal, authority=borealis, actor=beatrice)
    agent.refresh_from_db()
    assert agent.status == AgentStatus.DRAFT
    assert ThresholdProposal.all_institutions.get(pk=proposal.pk).status == ProposalStatus.PROPOSED


def test_certification_proposals_are_checked(agent, aurelia, borealis, ada, beatrice, charlie, certification_policy):
    with institution_scope(aurelia):
        services.agent_certification_propose(agent=agent, actor=ada)
        with pytest.raises(Conflict):  # one open proposal per agent
            services.agent_certification_propose(agent=agent, actor=ada)
    other = _register(borealis, beatrice, name="Borealis intake")
    with institution_scope(aurelia), pytest.raises(ValidationFailed):
        # Aurelia cannot propose another institution's agent through the generic trust act
        trust_services.threshold_proposal_create(
            institution=aurelia, act_type=ActType.CERTIFY_AGENT, payload={"agent": str(other.uid)}, actor=ada
        )


def test_without_a_policy_certification_cannot_be_proposed(agent, aurelia, ada):
    assert not ThresholdPolicy.objects.filter(act_type=ActType.CERTIFY_AGENT).exists()
    before = _state()
    with pytest.raises(ValidationFailed):
        services.agent_certification_propose(agent=agent, actor=ada)
    assert _state() == before


# --- model cards ---------------------------------------------------------------------------


def _card(agent, actor, **overrides):
    fields = {
        "purpose": "Completeness checks of permit applications.",
        "training_sources": [{"name": "Permit rules 2025", "provenance": "Municipal bylaw 12/2025"}],
        "evaluation_metrics": {"accuracy": 0.97},
        "known_limits": "Does not read handwritten forms.",
        "accountable_person": "Head of permits",
        "public": True,
    }
    fields.update(overrides)
    with institution_scope(agent.institution):
        return services.model_card_update(agent=agent, actor=actor, **fields)


def test_citizens_read_public_model_cards_and_get_404_on_private_ones(client, agent, ada, bob, charlie):
    url = f"/agents/{agent.uid}/model-card/"
    assert client.get(url).status_code == 404  # not public yet
    _card(agent, ada)
    for person in (None, bob, charlie):
        if person:
            client.force_login(person)
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Head of permits" in html and "Municipal bylaw 12/2025" in html
        assert "age &gt;= 18" not in html  # the engine configuration is not published
    _card(agent, ada, public=False)
    assert client.get(url).status_code == 404
    assert client.get("/agents/00000000-0000-0000-0000-000000000000/model-card/").status_code == 404


def test_model_card_validation(agent, ada):
    before = _state()
    for overrides, field in (
        ({"training_sources": [{"name": "x"}]}, "training_sources"),
        ({"evaluation_metrics": [1, 2]}, "evaluation_metrics"),
        ({"accountable_person": "", "public": True}, "public"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            _card(agent, ada, **overrides)
        assert field in caught.value.extra["errors"]
    assert _state() == before


# --- web pages -----------------------------------------------------------------------------


def test_members_read_the_registry_and_admins_manage_it(client, agent, aurelia, ada, bob):
    client.force_login(bob)
    assert agent.name in client.get("/i/aurelia/agents/").content.decode()
    html = client.get(f"/i/aurelia/agents/{agent.uid}/").content.decode()
    assert agent.did in html and "Version history" in html and "Suspend" not in html
    before = _state()
    for path in ("new/", f"{agent.uid}/edit/", f"{agent.uid}/suspend/", f"{agent.uid}/model-card/"):
        assert client.post(f"/i/aurelia/agents/{path}", {"name": "x", "reason": "x"}).status_code == 403
    assert _state() == before

    client.force_login(ada)
    response = client.post(
        "/i/aurelia/agents/new/",
        {
            "name": "Risk",
            "purpose": "Scores the risk of benefit claims.",
            "capabilities": "benefits.risk_score\nbenefits.review",
            "autonomy_level": "0",
            "engine": "statistical",
            "config": '{"artefact": "risk-v1.joblib"}',
        },
    )
    assert response.status_code == 302
    risk = Agent.all_institutions.get(name="Risk")
    assert risk.capabilities == ["benefits.review", "benefits.risk_score"]
    assert client.get(f"/i/aurelia/agents/{agent.uid}/suspend/").status_code == 200
    response = client.post(f"/i/aurelia/agents/{agent.uid}/suspend/", {"reason": "Audit finding"})
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.status == AgentStatus.SUSPENDED
    assert "Audit finding" in client.get(f"/i/aurelia/agents/{agent.uid}/").content.decode()


def test_the_register_form_shows_clear_errors_and_changes_nothing(client, aurelia, ada):
    client.force_login(ada)
    before = _state()
    response = client.post(
        "/i/aurelia/agents/new/",
        {
            "name": "LLM",
            "purpose": "Drafts letters.",
            "capabilities": "letters.draft",
            "autonomy_level": "0",
            "engine": "llm",
            "config": '{"api_key": "sk-abc"}',
        },
    )
    assert response.status_code == 400
    assert "environment variable" in response.content.decode()
    assert _state() == before


def test_propose_certification_from_the_agent_page(client, agent, ada, certification_policy):
    client.force_login(ada)
    assert client.get(f"/i/aurelia/agents/{agent.uid}/certify/").status_code == 200
    response = client.post(f"/i/aurelia/agents/{agent.uid}/certify/")
    assert response.status_code == 302
    proposal = ThresholdProposal.all_institutions.get(act_type=ActType.CERTIFY_AGENT)
    assert response["Location"].endswith(f"/trust/proposals/{proposal.pk}/")


# --- the API --------------------------------------------------------------------------------


def test_api_register_read_update_and_kill_switch(agent, aurelia, ada, bob):
    client = api_as(ada)
    response = client.post(
        "/api/v1/institutions/aurelia/agents/",
        {"name": "Risk", "purpose": "Scores risk.", "capabilities": ["benefits.risk_score"], "engine": "statistical"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    uid = response.json()["uid"]
    assert response.json()["did"].startswith("did:key:z")
    listing = api_as(bob).get("/api/v1/institutions/aurelia/agents/").json()
    assert {a["name"] for a in listing["results"]} == {"Intake", "Risk"}
    response = client.put(
        f"/api/v1/institutions/aurelia/agents/{uid}/",
        {
            "name": "Risk",
            "purpose": "Scores risk.",
            "capabilities": ["benefits.risk_score"],
            "engine": "statistical",
            "config": {"threshold": 0.8},
        },
        format="json",
    )
    assert response.status_code == 200 and response.json()["version"] == 2
    versions = client.get(f"/api/v1/institutions/aurelia/agents/{uid}/versions/").json()
    assert [v["number"] for v in versions] == [2, 1]
    response = client.post(f"/api/v1/institutions/aurelia/agents/{uid}/suspend/", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["errors"]
    response = client.post(f"/api/v1/institutions/aurelia/agents/{uid}/suspend/", {"reason": "stop"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "suspended"


def test_api_bob_gets_403_on_writes_and_nothing_changes(agent, aurelia, bob):
    client = api_as(bob)
    before = _state()
    base = f"/api/v1/institutions/aurelia/agents/{agent.uid}/"
    assert client.get(base).status_code == 200
    assert client.get(base + "model-card/").status_code == 200
    writes = [
        ("post", "/api/v1/institutions/aurelia/agents/"),
        ("put", base),
        ("put", base + "model-card/"),
        ("post", base + "suspend/"),
        ("post", base + "reinstate/"),
        ("post", base + "retire/"),
        ("post", base + "certify/"),
    ]
    for method, path in writes:
        response = getattr(client, method)(path, {"reason": "x"}, format="json")
        assert response.status_code == 403, (method, path, response.status_code)
    assert _state() == before


def test_api_bad_input_is_a_problem_document(agent, ada):
    before = _state()
    response = api_as(ada).put(
        f"/api/v1/institutions/aurelia/agents/{agent.uid}/",
        {
            "name": "Intake",
            "purpose": "x",
            "capabilities": ["permits.intake"],
            "engine": "rules",
            "config": {"password": "hunter2"},
        },
        format="json",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert "config" in response.json()["errors"]
    assert _state() == before


def test_charlie_gets_404_everywhere_and_nothing_changes(client, agent, charlie, ada):
    _card(agent, ada, public=False)
    before = _state()
    client.force_login(charlie)
    api = api_as(charlie)
    for rest in ("", "new/", f"{agent.uid}/", f"{agent.uid}/edit/", f"{agent.uid}/suspend/", f"{agent.uid}/certify/"):
        for method in ("get", "post"):
            assert getattr(client, method)(f"/i/aurelia/agents/{rest}").status_code == 404
    for rest in ("", f"{agent.uid}/", f"{agent.uid}/model-card/", f"{agent.uid}/suspend/", f"{agent.uid}/retire/"):
        assert api.get(f"/api/v1/institutions/aurelia/agents/{rest}").status_code == 404
        assert api.post(f"/api/v1/institutions/aurelia/agents/{rest}", {"reason": "x"}).status_code == 404
    assert client.get(f"/agents/{agent.uid}/model-card/").status_code == 404
    assert _state() == before


def test_an_agent_of_another_institution_is_404_from_ones_own(client, agent, borealis, charlie):
    member(charlie, borealis, Role.INSTITUTION_ADMIN)
    enrol_totp(charlie)
    client.force_login(charlie)
    assert client.get(f"/i/borealis/agents/{agent.uid}/").status_code == 404
    with institution_scope(borealis), pytest.raises(Http404):
        selectors.agent_get(institution=borealis, agent_uid=agent.uid)


def test_list_query_count_is_pinned(aurelia, ada, bob, django_assert_max_num_queries):
    for n in range(5):
        _register(aurelia, ada, name=f"Agent {n}")
    client = api_as(bob)
    with django_assert_max_num_queries(12):
        assert client.get("/api/v1/institutions/aurelia/agents/").status_code == 200


def test_the_demo_registers_its_agents_once(settings):
    from io import StringIO

    from django.core.management import call_command

    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    state = _state()
    call_command("seed_demo", stdout=StringIO())
    assert _state() == state
    agents = {a.name: a for a in Agent.all_institutions.filter(institution__slug="aurelia")}
    assert {"Permit intake (rules)", "Benefit risk model"} <= set(agents)
    assert agents["Permit intake (rules)"].status == AgentStatus.CERTIFIED
    assert agents["Benefit risk model"].status == AgentStatus.DRAFT
    assert all(
        ModelCard.all_institutions.get(agent=agents[name]).public
        for name in ("Permit intake (rules)", "Benefit risk model")
    )
    aurelia = agents["Benefit risk model"].institution
    assert selectors.agents_available_for(institution=aurelia, task_type="permits.intake") == [
        agents["Permit intake (rules)"]
    ]


def test_the_registry_offers_exactly_the_engines_that_exist():
    import apps.agents.engines.llm
    import apps.agents.engines.precedent
    import apps.agents.engines.rules
    import apps.agents.engines.statistical  # noqa: F401
    from apps.agents.engines import engine_names
    from apps.agents.models import EngineName

    assert set(EngineName.values) == set(engine_names())

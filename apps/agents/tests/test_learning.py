"""Learning from council verdicts: examples, candidates evaluated on held-out verdicts, promotion
by an administrator only, tampered artefacts refused, and the cluster's calibration report."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import json
import random
from types import SimpleNamespace

import pytest

from apps.agents import review
from apps.agents.clusters import services as cluster_services
from apps.agents.engines.statistical import REPO_ROOT, sha256_file, statistical_engine, train_model
from apps.agents.learning import services
from apps.agents.learning.models import CandidateStatus, ModelCandidate, TrainingExample, is_held_out
from apps.agents.models import Agent, AgentProposalRecord, AgentStatus, AgentVersion, Cluster, ClusterRun
from apps.agents.services import agent_register
from apps.audit.models import AuditEvent
from apps.feedback import services as feedback_services
from apps.feedback.models import ReviewItem
from apps.tenancy.scope import institution_scope
from portal.errors import InvalidTransition, PermissionDenied, ValidationFailed
from portal.testing import UserFactory, api_as, member

pytestmark = pytest.mark.django_db

TASK_TYPE = "permits.event_review"
# the node's own events (sign-ins, refused API calls) are not writes of the institution's
NODE_EVENTS = ["identity.login", "identity.logout", "identity.api_forbidden", "identity.api_auth_failed"]
TODAY = dt.date.today()


def _generator():
    path = REPO_ROOT / "fixtures" / "agents" / "generate_decisions.py"
    spec = importlib.util.spec_from_file_location("generate_decisions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    """A small base model (300 synthetic rows) in a models directory of the test's own, allowed like var/models."""
    generator = _generator()
    dataset = tmp_path / "decisions.csv"
    with dataset.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=generator.FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(generator.generate(300, seed=11))
    models = tmp_path / "models"
    train_model(dataset=dataset, out=models / "tiny-v1")
    monkeypatch.setattr(services, "MODEL_DIR", models)
    monkeypatch.setattr(statistical_engine, "allowed_roots", (*statistical_engine.allowed_roots, models))
    return models


@pytest.fixture
def agent(aurelia, ada, model_dir):
    with institution_scope(aurelia):
        registered = agent_register(
            institution=aurelia,
            actor=ada,
            name="Event risk model",
            purpose="Estimates how likely an event application is to be approved.",
            capabilities=[TASK_TYPE],
            engine="statistical",
            config={"artefact": str(model_dir / "tiny-v1.joblib"), "threshold": 0.5, "retrain_every": 0},
        )
    # fixture shortcut: certification proper is a threshold approval
    Agent.all_institutions.filter(pk=registered.pk).update(status=AgentStatus.CERTIFIED)
    registered.refresh_from_db()
    return registered


def record(**changes) -> dict:
    fields = {
        "crowd_size": 150,
        "duration_hours": 2.0,
        "zone": "park",
        "prior_violations": 0,
        "fee_paid": True,
        "amplified_sound": False,
        **changes,
    }
    return fields


def _examples(agent, count: int, *, start_item: int = 1000) -> list[TrainingExample]:
    """Council examples written directly (fixture shortcut for many verdicts): the councils
    deny crowds over 600 people and approve the rest."""
    rng = random.Random(5)
    rows = []
    for index in range(count):
        crowd = rng.choice([80, 200, 400, 700, 900, 1200])
        features = record(crowd_size=crowd, zone=rng.choice(["park", "residential", "commercial"]))
        item = start_item + index
        rows.append(
            TrainingExample(
                institution=agent.institution,
                agent=agent,
                features=features,
                label="deny" if crowd > 600 else "approve",
                source_item=item,
                held_out=is_held_out(agent_uid=str(agent.uid), run_id=None, item_id=item),
            )
        )
    return TrainingExample.all_institutions.bulk_create(rows)


def _retrain(agent, actor, capture):
    with institution_scope(agent.institution), capture(execute=True):
        candidate = services.model_retrain(agent=agent, actor=actor)
    candidate.refresh_from_db()
    return candidate


@pytest.fixture
def candidate(agent, ada, django_capture_on_commit_callbacks):
    _examples(agent, 40)
    return _retrain(agent, ada, django_capture_on_commit_callbacks)


def _cluster(agent, ada, policy=None):
    with institution_scope(agent.institution):
        return cluster_services.cluster_create(
            institution=agent.institution,
            actor=ada,
            name="Event review",
            task_type=TASK_TYPE,
            stages=[{"name": "risk", "agents": [str(agent.uid)]}],
            allowed_decisions=["approve", "deny", "request_information"],
            flagging_policy=policy or {"max_disagreement": 0.9, "min_confidence": 0.0},
        )


def _run(cluster, actor, capture, **changes) -> ClusterRun:
    with institution_scope(cluster.institution), capture(execute=True):
        run = cluster_services.cluster_run_start(cluster=cluster, record=record(**changes), documents={}, actor=actor)
    run.refresh_from_db()
    return run


def _engine_version(run) -> str:
    return AgentProposalRecord.all_institutions.get(run=run).proposal["engine_version"]


# --- examples from verdicts ------------------------------------------------------------


@pytest.fixture
def council_members(aurelia):
    with institution_scope(aurelia):
        council = feedback_services.council_create(
            institution=aurelia,
            actor=None,
            name="Events council",
            mandate_task_types=[TASK_TYPE],
            mandate_impacts=["medium", "high"],
            quorum=3,
            majority="simple",
            deadline_hours=48,
            escalation="institution_admin",
        )
        people = []
        for i in range(3):
            user = member(UserFactory(username=f"juror{i}"), aurelia, "citizen")
            feedback_services.council_member_add(
                council=council,
                user=user,
                kind="citizen",
                term_start=TODAY - dt.timedelta(days=1),
                term_end=TODAY + dt.timedelta(days=30),
                actor=None,
            )
            people.append(user)
    return people


def _verdict(run, members, capture, choice="approve", amended=""):
    item = ReviewItem.all_institutions.get(subject_type=review.SUBJECT_TYPE, subject_id=str(run.pk))
    with capture(execute=True), institution_scope(run.institution):
        for user in members:
            feedback_services.review_vote(
                item=item, user=user, choice=choice, reason="Looked at the case.", amended_decision=amended
            )
    item.refresh_from_db()
    return item


def test_council_verdicts_become_training_examples_of_the_statistical_agent(
    agent, ada, alice, council_members, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    cluster = _cluster(agent, ada, {"max_disagreement": 0.9, "min_confidence": 0.0, "audit_sample_rate": 1.0})
    run = _run(cluster, alice, capture, crowd_size=300, zone="residential")
    assert run.sampled_for_audit
    item = _verdict(
        run, council_members, capture, choice="amend", amended="deny" if run.decision == "approve" else "approve"
    )
    example = TrainingExample.all_institutions.get(agent=agent)
    assert (example.source_item, example.run_id, example.label) == (item.pk, run.pk, item.verdict_decision)
    # exactly the fields the model reads, as the record had them
    manifest = json.loads((services.MODEL_DIR / "tiny-v1.json").read_text())
    assert example.features == {f["name"]: run.record[f["name"]] for f in manifest["features"]}
    assert example.held_out == is_held_out(agent_uid=str(agent.uid), run_id=run.pk, item_id=item.pk)
    assert AuditEvent.objects.filter(action="agents.learning.example", target_id=str(example.pk)).exists()

    # learning again from the same verdict adds nothing
    with institution_scope(agent.institution):
        review.learn(item=item)
    assert TrainingExample.all_institutions.filter(agent=agent).count() == 1

    # a decision that is not one of the model's two teaches it nothing
    other = _run(cluster, alice, capture, crowd_size=120)
    _verdict(other, council_members, capture, choice="amend", amended="request_information")
    assert TrainingExample.all_institutions.filter(agent=agent).count() == 1
    # nothing is retrained automatically when K is 0, and never promoted
    assert not ModelCandidate.all_institutions.exists()


def test_every_k_new_examples_a_candidate_is_trained_but_not_promoted(
    agent, ada, alice, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    Agent.all_institutions.filter(pk=agent.pk).update(config={**agent.config, "retrain_every": 11})
    agent.refresh_from_db()
    config, version = dict(agent.config), agent.version
    _examples(agent, 10)
    run = _run(_cluster(agent, ada), alice, capture, crowd_size=900)
    with institution_scope(agent.institution), capture(execute=True):
        written = services.training_examples_from_verdict(run=run, item=SimpleNamespace(pk=1, verdict_decision="deny"))
    assert written == 1
    candidate = ModelCandidate.all_institutions.get(agent=agent)
    assert (candidate.trigger, candidate.status, candidate.requested_by) == (
        "automatic",
        CandidateStatus.CANDIDATE,
        None,
    )
    agent.refresh_from_db()
    assert (agent.config, agent.version, agent.status) == (config, version, AgentStatus.CERTIFIED)
    assert not AuditEvent.objects.filter(action="agents.learning.promote").exists()
    listed = api_as(ada).get(_learning_url(agent)).json()["candidates"]
    assert [(c["trigger"], c["requested_by"]) for c in listed] == [("automatic", None)]


# --- retraining -------------------------------------------------------------------------


def test_retraining_makes_a_candidate_evaluated_on_held_out_verdicts_it_never_trained_on(agent, candidate):
    assert candidate.status == CandidateStatus.CANDIDATE
    examples = list(TrainingExample.all_institutions.filter(agent=agent))
    held = {e.pk for e in examples if e.held_out}
    trained = {e.pk for e in examples if not e.held_out}
    assert held and trained
    data = candidate.training_data
    assert set(data["held_out"]["example_ids"]) == held
    assert set(data["council_examples"]["example_ids"]) == trained
    # the artefact exists where the brief says, hashes as recorded, and its manifest names what it learnt from
    artefact = services.MODEL_DIR / f"{agent.uid}-v1.joblib"
    assert candidate.artefact_path.endswith(f"{agent.uid}-v1.joblib")
    assert sha256_file(artefact) == candidate.artefact_sha256
    manifest = json.loads(artefact.with_suffix(".json").read_text())
    assert manifest["extra_rows"]["count"] == len(trained)
    trained_rows = [
        {**{k: e.features[k] for k in [f["name"] for f in manifest["features"]]}, "decision": e.label}
        for e in sorted(examples, key=lambda e: e.pk)
        if e.pk in trained
    ]
    assert manifest["extra_rows"]["sha256"] == services.rows_digest(trained_rows)  # no held-out row among them
    assert data["shipped"] == {"name": "decisions.csv", "sha256": manifest["training_data_sha256"]}
    evaluation = candidate.evaluation
    assert evaluation["held_out"] == len(held)
    for side in ("current", "candidate"):
        assert evaluation[side]["cases"] == len(held)
        assert 0 <= evaluation[side]["accuracy"] <= 1 and evaluation[side]["agreed"] <= len(held)
    assert evaluation["current"]["model_version"] == "tiny-v1"
    assert evaluation["candidate"]["model_version"] == candidate.version_label
    actions = set(AuditEvent.objects.filter(target_id=str(candidate.pk)).values_list("action", flat=True))
    assert {"agents.learning.retrain", "agents.learning.candidate"} <= actions


def test_nothing_changes_for_the_agent_until_promotion(
    agent, ada, alice, candidate, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    cluster = _cluster(agent, ada)
    before = _run(cluster, alice, capture)
    assert "tiny-v1" in _engine_version(before)  # retrained, not promoted: the old model still decides
    agent.refresh_from_db()
    assert agent.config["artefact"].endswith("tiny-v1.joblib") and agent.version == 1

    with institution_scope(agent.institution):
        services.model_candidate_promote(candidate=candidate, actor=ada, note="Better on the councils' cases.")
    agent.refresh_from_db()
    candidate.refresh_from_db()
    assert candidate.status == CandidateStatus.PROMOTED and candidate.agent_version == 2
    assert agent.config["artefact"] == candidate.artefact_path and agent.version == 2
    assert agent.status == AgentStatus.DRAFT  # certified version 1, not this one
    assert AgentVersion.all_institutions.filter(agent=agent, number=2).exists()
    card = agent.model_card
    card.refresh_from_db()
    assert card.evaluation_metrics["model_version"] == candidate.version_label
    assert card.evaluation_metrics["held_out_council_verdicts"]["cases"] == candidate.evaluation["held_out"]
    items = candidate.training_data["council_examples"]["items"]
    assert any(str(items[0]) in s["provenance"] and str(items[1]) in s["provenance"] for s in card.training_sources)
    assert AuditEvent.objects.filter(action="agents.learning.promote", target_id=str(candidate.pk)).exists()

    draft_run = _run(cluster, alice, capture)
    assert AgentProposalRecord.all_institutions.get(run=draft_run).refused == "inactive"
    # fixture shortcut for the re-certification (a threshold approval)
    Agent.all_institutions.filter(pk=agent.pk).update(status=AgentStatus.CERTIFIED)
    after = _run(cluster, alice, capture)
    assert candidate.version_label in _engine_version(after) and "tiny-v1" not in _engine_version(after)


def test_a_tampered_candidate_artefact_cannot_be_promoted(agent, ada, candidate):
    artefact = services.artefact_file(candidate.artefact_path)
    artefact.write_bytes(artefact.read_bytes() + b"tampered")
    events = _events()
    with institution_scope(agent.institution), pytest.raises(services.ArtefactMismatch):
        services.model_candidate_promote(candidate=candidate, actor=ada)
    agent.refresh_from_db()
    candidate.refresh_from_db()
    assert candidate.status == CandidateStatus.CANDIDATE
    assert agent.config["artefact"].endswith("tiny-v1.joblib") and agent.version == 1
    assert _events() == events


def test_a_rejected_candidate_needs_a_reason_and_cannot_be_promoted(agent, ada, candidate):
    with institution_scope(agent.institution):
        with pytest.raises(ValidationFailed) as refused:
            services.model_candidate_reject(candidate=candidate, actor=ada, reason=" ")
        assert "reason" in refused.value.extra["errors"]
        services.model_candidate_reject(candidate=candidate, actor=ada, reason="Worse on residential zones.")
        with pytest.raises(InvalidTransition):
            services.model_candidate_promote(candidate=candidate, actor=ada)
    candidate.refresh_from_db()
    assert candidate.status == CandidateStatus.REJECTED and candidate.decided_by == ada
    assert AuditEvent.objects.filter(action="agents.learning.reject", target_id=str(candidate.pk)).exists()
    with pytest.raises(PermissionDenied):
        services.model_candidate_promote(candidate=candidate, actor=None)  # the machine never promotes


# --- who may -----------------------------------------------------------------------------


def _events() -> int:
    return AuditEvent.objects.exclude(action__in=NODE_EVENTS).count()


def _learning_url(agent) -> str:
    return f"/api/v1/institutions/aurelia/agents/{agent.uid}/learning/"


def test_only_administrators_retrain_promote_and_reject(agent, ada, alice, candidate, client):
    events = _events()
    civil_servant = api_as(alice)
    assert civil_servant.get(_learning_url(agent)).status_code == 200  # readers read
    assert civil_servant.post(_learning_url(agent)).status_code == 403
    base = f"{_learning_url(agent)}candidates/{candidate.pk}/"
    assert civil_servant.post(base + "promote/", {"note": "x"}, format="json").status_code == 403
    assert civil_servant.post(base + "reject/", {"reason": "x"}, format="json").status_code == 403
    client.force_login(alice)
    web = f"/i/aurelia/agents/{agent.uid}/learning/"
    assert client.post(web + "retrain/").status_code == 403
    assert client.post(f"{web}{candidate.pk}/promote/", {"note": "x"}).status_code == 403
    assert client.post(f"{web}{candidate.pk}/reject/", {"reason": "x"}).status_code == 403
    candidate.refresh_from_db()
    assert candidate.status == CandidateStatus.CANDIDATE
    assert ModelCandidate.all_institutions.count() == 1
    assert _events() == events
    with institution_scope(agent.institution), pytest.raises(PermissionDenied):
        services.model_retrain(agent=agent, actor=alice)


def test_an_administrator_retrains_and_promotes_over_the_api(agent, ada, django_capture_on_commit_callbacks):
    _examples(agent, 30)
    admin = api_as(ada)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(_learning_url(agent))
    assert response.status_code == 202, response.content
    listing = admin.get(_learning_url(agent)).json()
    assert listing["summary"]["examples"] == 30
    [candidate] = listing["candidates"]
    assert candidate["status"] == "candidate" and candidate["evaluation"]["held_out"] == listing["summary"]["held_out"]
    response = admin.post(f"{_learning_url(agent)}candidates/{candidate['id']}/promote/", {"note": ""}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "promoted"
    agent.refresh_from_db()
    assert agent.status == AgentStatus.DRAFT and agent.version == 2


def test_the_pages_show_the_evaluation_and_say_re_certification_is_needed(agent, ada, alice, candidate, client):
    client.force_login(alice)
    page = client.get(f"/i/aurelia/agents/{agent.uid}/learning/").content.decode()
    assert "Candidate 1" in page and "held-out council verdict" in page and "Retrain now" not in page
    client.force_login(ada)
    url = f"/i/aurelia/agents/{agent.uid}/learning/{candidate.pk}/"
    page = client.get(url).content.decode()
    assert "Promote this model" in page and "tiny-v1" in page
    response = client.post(url + "promote/", {"note": "Better."})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "draft again" in page and f"/i/aurelia/agents/{agent.uid}/certify/" in page
    assert "Learning" in client.get(f"/i/aurelia/agents/{agent.uid}/").content.decode()


def test_a_candidate_page_shows_training_until_done(agent, ada, client):
    _examples(agent, 20)
    client.force_login(ada)
    response = client.post(f"/i/aurelia/agents/{agent.uid}/learning/retrain/")
    candidate = ModelCandidate.all_institutions.get(agent=agent)  # no commit callbacks run: still training
    assert response.status_code == 302 and response.url == f"/i/aurelia/agents/{agent.uid}/learning/{candidate.pk}/"
    assert candidate.status == CandidateStatus.TRAINING and candidate.requested_by == ada
    page = client.get(response.url).content.decode()
    assert "Training…" in page and "hx-get" in page and "Promote this model" not in page


def test_charlie_gets_404_and_nothing_changes(agent, candidate, charlie, client):
    events = _events()
    outsider = api_as(charlie)
    base = _learning_url(agent)
    assert outsider.get(base).status_code == 404
    assert outsider.post(base).status_code == 404
    assert outsider.post(f"{base}candidates/{candidate.pk}/promote/", {}, format="json").status_code == 404
    client.force_login(charlie)
    assert client.get(f"/i/aurelia/agents/{agent.uid}/learning/{candidate.pk}/").status_code == 404
    assert client.post(f"/i/aurelia/agents/{agent.uid}/learning/retrain/").status_code == 404
    candidate.refresh_from_db()
    assert candidate.status == CandidateStatus.CANDIDATE and _events() == events
    assert ModelCandidate.all_institutions.count() == 1


# --- the calibration report ---------------------------------------------------------------


def test_the_calibration_report_on_the_cluster_page_and_the_api(
    agent, ada, alice, client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    cluster = _cluster(agent, ada)
    runs = [_run(cluster, alice, capture, crowd_size=crowd) for crowd in (100, 150, 200, 250)]
    decided = runs[0].decision
    other = "deny" if decided == "approve" else "approve"
    # fixture shortcut: verdicts as cluster_run_apply_verdict stores them
    # three audited standing decisions, one of them changed; one flagged decision upheld
    for run, final, sampled, flagged in (
        (runs[0], decided, True, False),
        (runs[1], runs[1].decision, True, False),
        (runs[2], other if runs[2].decision == decided else decided, True, False),
        (runs[3], runs[3].decision, False, True),
    ):
        ClusterRun.all_institutions.filter(pk=run.pk).update(
            council_verdict={"item": run.pk, "decision": final},
            final_decision=final,
            sampled_for_audit=sampled,
            flagged=flagged,
        )
    Cluster.all_institutions.filter(pk=cluster.pk).update(
        flagging_policy={**cluster.flagging_policy, "watch_agents": [str(agent.uid)]}
    )
    data = api_as(alice).get(f"/api/v1/institutions/aurelia/agents/clusters/{cluster.pk}/calibration/").json()
    assert (data["audited"], data["changed"], data["flagged_reviewed"], data["flagged_overturned"]) == (3, 1, 1, 0)
    assert data["audited_error_rate"] == pytest.approx(1 / 3)
    [row] = data["agents"]
    assert (row["agent"], row["reviewed"], row["contradicted"], row["watched"]) == (str(agent.uid), 4, 1, True)
    assert row["contradiction_rate"] == pytest.approx(0.25)
    assert data["watch_list"] == [str(agent.uid)]
    client.force_login(alice)
    page = client.get(f"/i/aurelia/agents/clusters/{cluster.pk}/").content.decode()
    assert "Error rate of standing decisions" in page and "33 %" in page and "25 %" in page
    bob = member(UserFactory(username="citizen-reader"), agent.institution, "citizen")
    assert api_as(bob).get(f"/api/v1/institutions/aurelia/agents/clusters/{cluster.pk}/calibration/").status_code == 403


def test_the_learning_list_reads_a_fixed_number_of_queries(
    agent, ada, candidate, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    with institution_scope(agent.institution):
        services.model_candidate_reject(candidate=candidate, actor=ada, reason="Try again with more verdicts.")
    _retrain(agent, ada, django_capture_on_commit_callbacks)
    admin = api_as(ada)
    with django_assert_max_num_queries(8):
        response = admin.get(_learning_url(agent))
    assert [c["number"] for c in response.json()["candidates"]] == [2, 1]


def test_training_fails_visibly_when_the_shipped_data_changed(
    agent, ada, model_dir, django_capture_on_commit_callbacks
):
    _examples(agent, 20)
    dataset = model_dir.parent / "decisions.csv"
    dataset.write_text(dataset.read_text() + "EVT-99999,10,1.0,park,0,1,0,approve\n")
    candidate = _retrain(agent, ada, django_capture_on_commit_callbacks)
    assert candidate.status == CandidateStatus.FAILED and "cannot be found unchanged" in candidate.error
    assert not candidate.artefact_path
    assert AuditEvent.objects.filter(action="agents.learning.train_failed", target_id=str(candidate.pk)).exists()
    agent.refresh_from_db()
    assert agent.config["artefact"].endswith("tiny-v1.joblib") and agent.version == 1
    with institution_scope(agent.institution), pytest.raises(InvalidTransition):
        services.model_candidate_promote(candidate=candidate, actor=ada)


def test_a_candidate_whose_training_task_was_lost_is_trained_again(agent, ada, django_capture_on_commit_callbacks):
    _examples(agent, 20)
    with institution_scope(agent.institution):
        lost = services.model_retrain(agent=agent, actor=ada)  # its task never runs
        again = services.model_retrain(agent=agent, actor=ada)
    assert again.pk == lost.pk  # one candidate at a time
    ModelCandidate.all_institutions.filter(pk=lost.pk).update(
        created_at=lost.created_at - services.TRAINING_GIVEN_UP_AFTER - dt.timedelta(minutes=1)
    )
    retried = _retrain(agent, ada, django_capture_on_commit_callbacks)
    assert retried.pk == lost.pk and retried.status == CandidateStatus.CANDIDATE
    assert ModelCandidate.all_institutions.count() == 1

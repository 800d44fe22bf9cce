"""Demo data of clusters: Aurelia's five-stage event-permit review, with decided and flagged runs.

Stages: intake (rules) → safety rules → risk model (the shipped scikit-learn model) →
precedents (TF-IDF over past decisions) → second opinion (rules). Crowds of 1,000 people
or more are high impact: the run is flagged for the council whatever the agents say; so is
a run where any agent dissents.
"""

from __future__ import annotations

import csv
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.agents import services
from apps.agents.clusters import services as cluster_services
from apps.agents.models import Agent, AgentStatus, Cluster, ClusterRun
from apps.agents.reputation import services as reputation_services
from apps.tenancy.scope import institution_scope

TASK_TYPE = "permits.event_review"
CLUSTER_NAME = "Event permit review"
DECISIONS = ["approve", "deny", "request_information"]
PAST_DECISIONS = Path(settings.BASE_DIR) / "fixtures" / "agents" / "permit_decisions.csv"
CORPUS_SIZE = 60  # the engine configuration holds the corpus, and a configuration is at most 16 kB


def summary(record: dict) -> str:
    """The plain-text description the precedent agent compares; past decisions use the same words."""
    zone = str(record["zone"]).replace("_", " ")
    sound = "with amplified sound" if record["amplified_sound"] else "without amplified sound"
    fee = "fee paid" if record["fee_paid"] else "fee not paid"
    return (
        f"Event in a {zone} zone for {record['crowd_size']} people over {record['duration_hours']} hours, "
        f"{sound}, {fee}, {record['prior_violations']} prior violations."
    )


def _corpus(institution_id: int) -> list[dict]:
    with PAST_DECISIONS.open(newline="") as handle:
        rows = [row for _i, row in zip(range(CORPUS_SIZE), csv.DictReader(handle), strict=False)]
    corpus = []
    for row in rows:
        record = {
            "zone": row["zone"],
            "crowd_size": int(row["crowd_size"]),
            "duration_hours": float(row["duration_hours"]),
            "amplified_sound": row["amplified_sound"] == "1",
            "fee_paid": row["fee_paid"] == "1",
            "prior_violations": int(row["prior_violations"]),
        }
        corpus.append(
            {
                "id": row["application_id"],
                "text": summary(record),
                "decision": row["decision"],
                "institution_id": institution_id,
            }
        )
    return corpus


def _rule(rule_id: str, expression: str, decision: str, explanation: str) -> dict:
    return {"id": rule_id, "version": "1", "expression": expression, "decision": decision, "explanation": explanation}


def agent_specs(institution_id: int) -> list[dict]:
    accountable = "Head of the events office, City of Aurelia"
    return [
        {
            "stage": "intake",
            "name": "Event permit intake",
            "purpose": "Checks that an event permit application is complete before anyone weighs it.",
            "engine": "rules",
            "config": {
                "rule_set": "event-intake",
                "version": "1",
                "rules": [
                    _rule("fee", "not fee_paid", "request_information", "The permit fee has not been paid yet."),
                ],
                "default_decision": "approve",
                "default_explanation": "The application is complete.",
            },
            "sources": [{"name": "Events bylaw of the City of Aurelia", "provenance": "Bylaw 7/2024, art. 3"}],
        },
        {
            "stage": "rules",
            "name": "Event safety rules",
            "purpose": "Applies the safety and noise articles of the events bylaw, citing the article of each finding.",
            "engine": "rules",
            "config": {
                "rule_set": "event-safety",
                "version": "1",
                "rules": [
                    _rule(
                        "noise-residential",
                        "amplified_sound and zone == 'residential' and duration_hours > 3",
                        "deny",
                        "Amplified sound for more than three hours is not allowed in a residential zone.",
                    ),
                    _rule("crowd-cap", "crowd_size > 5000", "deny", "Events over 5,000 people need a stadium permit."),
                ],
                "default_decision": "approve",
                "default_explanation": "No safety or noise article objects to the event.",
            },
            "sources": [{"name": "Events bylaw of the City of Aurelia", "provenance": "Bylaw 7/2024, art. 9-14"}],
        },
        {
            "stage": "risk",
            "name": "Event risk model",
            "purpose": "Estimates from past decisions how likely an event application is to be approved.",
            "engine": "statistical",
            "config": {"artefact": "fixtures/agents/models/permit-v1.joblib", "threshold": 0.5},
            "sources": [
                {
                    "name": "Synthetic event permit decisions (fixtures/agents/permit_decisions.csv)",
                    "provenance": "Generated by fixtures/agents/generate_decisions.py, fixed seed; no personal data",
                }
            ],
        },
        {
            "stage": "precedent",
            "name": "Event precedents",
            "purpose": "Finds the most similar past event decisions of the city and cites them.",
            "engine": "precedent",
            "config": {"corpus": _corpus(institution_id), "query_fields": ["summary"], "k": 5, "min_similarity": 0.1},
            "sources": [
                {
                    "name": f"The first {CORPUS_SIZE} synthetic past decisions",
                    "provenance": "fixtures/agents/permit_decisions.csv (synthetic, seeded)",
                }
            ],
        },
        {
            "stage": "validator",
            "name": "Repeat offender check",
            "purpose": "A second opinion on organisers with a history of violations.",
            "engine": "rules",
            "config": {
                "rule_set": "event-second-opinion",
                "version": "1",
                "rules": [
                    _rule(
                        "repeat-offender",
                        "prior_violations >= 2",
                        "deny",
                        "Organisers with two or more violations in the last three years are refused.",
                    )
                ],
                "default_decision": "approve",
                "default_explanation": "The organiser has no record that stands in the way.",
            },
            "sources": [{"name": "Events bylaw of the City of Aurelia", "provenance": "Bylaw 7/2024, art. 21"}],
            "accountable": accountable,
        },
    ]


def event_record(**fields) -> dict:
    record = {
        "applicant": {"name": "Demo organiser", "resident": True},
        "zone": "park",
        "crowd_size": 150,
        "duration_hours": 2.0,
        "amplified_sound": False,
        "fee_paid": True,
        "prior_violations": 0,
        **fields,
    }
    record["summary"] = summary(record)
    return record


DEMO_RUNS = [
    event_record(),  # a picnic concert: decided
    event_record(zone="historic_centre", crowd_size=2500, duration_hours=6.0, amplified_sound=True),  # high impact
    event_record(zone="residential", crowd_size=400, duration_hours=5.0, amplified_sound=True, prior_violations=2),
    event_record(zone="commercial", crowd_size=300, duration_hours=3.0, fee_paid=False),
]


def seed_demo(*, federation, stdout) -> None:
    """Idempotent: creates the agents, certifies them, the cluster, and runs the demo tasks once."""
    from apps.agents.demo import _certification_proposed, _certify

    aurelia, adrian = federation.institutions.get("aurelia"), federation.users.get("adrian")
    if aurelia is None or adrian is None:
        return
    with institution_scope(aurelia):
        stages = []
        for spec in agent_specs(aurelia.pk):
            agent = Agent.objects.filter(name=spec["name"]).first()
            if agent is None:
                agent = services.agent_register(
                    institution=aurelia,
                    actor=adrian,
                    name=spec["name"],
                    purpose=spec["purpose"],
                    capabilities=[TASK_TYPE],
                    autonomy_level=1,
                    engine=spec["engine"],
                    config=spec["config"],
                )
                services.model_card_update(
                    agent=agent,
                    actor=adrian,
                    purpose=spec["purpose"],
                    training_sources=spec["sources"],
                    evaluation_metrics={},
                    known_limits="Reads only the structured fields of the application; a person confirms.",
                    accountable_person=spec.get("accountable", "Head of the events office, City of Aurelia"),
                    public=True,
                )
            if agent.status == AgentStatus.DRAFT and not _certification_proposed(agent):
                _certify(agent, federation=federation)
            stages.append({"name": spec["stage"], "agents": [str(agent.uid)]})
        cluster = Cluster.objects.filter(name=CLUSTER_NAME).first()
        if cluster is None:
            cluster = cluster_services.cluster_create(
                institution=aurelia,
                actor=adrian,
                name=CLUSTER_NAME,
                task_type=TASK_TYPE,
                stages=stages,
                allowed_decisions=DECISIONS,
                # any dissenting agent (one in five) sends the case to people
                flagging_policy={"max_disagreement": 0.15, "high_impact": {"field": "crowd_size", "threshold": 1000}},
            )
        if not ClusterRun.objects.filter(cluster=cluster).exists():
            # the demo's applicant is Clara, a citizen of Aurelia: she reads the outcomes and may appeal
            clara = federation.users.get("clara")
            for record in DEMO_RUNS:
                _run_now(cluster=cluster, record=record, actor=adrian, concerns=clara)
            reputation_services.reputation_recompute(institution=aurelia, trigger="manual")
    stdout.write(f"Agent cluster: “{CLUSTER_NAME}” of Aurelia, five stages, {len(DEMO_RUNS)} demo runs.")


def _run_now(*, cluster: Cluster, record: dict, actor, concerns=None) -> None:
    """Carry a demo run through its stages in this process, so the demo starts with decided
    runs and a reputation history; the queued Celery task later finds the run done."""
    with transaction.atomic():
        run = cluster_services.cluster_run_start(
            cluster=cluster, record=record, documents={}, actor=actor, concerns=concerns
        )
    for index in range(run.stage_count):
        cluster_services.cluster_stage_execute(run=run, stage_index=index)
    cluster_services.cluster_run_finalise(run=run)

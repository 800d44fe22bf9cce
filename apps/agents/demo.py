"""Demo data of the agent registry: Aurelia's intake agent (certified) and risk-model agent (draft)."""

from __future__ import annotations

from apps.agents import services
from apps.agents.models import Agent, AgentStatus
from apps.tenancy.scope import institution_scope
from apps.trust import selectors as trust_selectors
from apps.trust import services as trust_services
from apps.trust.models import ActType, ProposalStatus, ThresholdProposal

CERTIFICATION_AUTHORITIES = ("ministry-interior", "audit-office", "aurelia", "borealis")

AGENTS = [
    {
        "name": "Permit intake (rules)",
        "purpose": "Checks that a permit application is complete and that the applicant is eligible, "
        "citing the rule and the field behind each finding.",
        "capabilities": ["permits.intake", "permits.completeness"],
        "autonomy_level": 1,
        "engine": "rules",
        "config": {
            "rule_set": "permit-intake",
            "version": "1",
            "rules": [
                {
                    "id": "resident",
                    "version": "1",
                    "expression": "not applicant.resident_of_aurelia",
                    "decision": "ineligible",
                    "explanation": "Only residents of Aurelia may apply for this permit.",
                },
            ],
            "default_decision": "eligible",
            "default_explanation": "The applicant is eligible.",
        },
        "card": {
            "purpose": "Completeness and eligibility checks of permit applications before a civil servant decides.",
            "training_sources": [
                {"name": "Permit bylaw of the City of Aurelia", "provenance": "Municipal bylaw 12/2025, as published"}
            ],
            "evaluation_metrics": {"agreement_with_civil_servants": 0.97, "cases_evaluated": 400},
            "known_limits": "Reads only structured fields; scanned or handwritten documents go to a person.",
            "accountable_person": "Head of the permits office, City of Aurelia",
            "public": True,
        },
    },
    {
        "name": "Benefit risk model",
        "purpose": "Scores how likely a benefit claim needs a closer review, from the claim's structured fields.",
        "capabilities": ["benefits.risk_score"],
        "autonomy_level": 0,
        "engine": "statistical",
        "config": {"artefact": "benefit-risk-v1.joblib", "threshold": 0.7},
        "card": {
            "purpose": "Prioritising benefit claims for review; it never decides a claim.",
            "training_sources": [
                {"name": "Synthetic benefit claims", "provenance": "Generated for the demo; no personal data"}
            ],
            "evaluation_metrics": {"roc_auc": 0.81, "precision_at_threshold": 0.74, "recall_at_threshold": 0.62},
            "known_limits": "Trained on synthetic data; scores are uncalibrated for households of more than six.",
            "accountable_person": "Data protection officer, City of Aurelia",
            "public": True,
        },
    },
]


def seed_demo(*, federation, stdout) -> None:
    """Idempotent: creates only what is missing."""
    aurelia, adrian = federation.institutions.get("aurelia"), federation.users.get("adrian")
    if aurelia is None or adrian is None:
        return
    if trust_selectors.policy_for_act(act_type=ActType.CERTIFY_AGENT) is None:
        trust_services.threshold_policy_create(
            name="Certification of agents",
            act_type=ActType.CERTIFY_AGENT,
            k=2,
            authorities=[federation.institutions[s] for s in CERTIFICATION_AUTHORITIES if s in federation.institutions],
            actor="seed_demo",
        )
    with institution_scope(aurelia):
        agents = []
        for spec in AGENTS:
            agent = Agent.objects.filter(name=spec["name"]).first()
            if agent is None:
                fields = {k: v for k, v in spec.items() if k != "card"}
                agent = services.agent_register(institution=aurelia, actor=adrian, **fields)
                services.model_card_update(agent=agent, actor=adrian, **spec["card"])
            agents.append(agent)
        intake = agents[0]
        if intake.status == AgentStatus.DRAFT and not _certification_proposed(intake):
            _certify(intake, federation=federation)
    stdout.write("Agents: Aurelia's permit intake agent (certified) and benefit risk model (draft).")
    from apps.agents.clusters import demo as cluster_demo

    cluster_demo.seed_demo(federation=federation, stdout=stdout)
    from apps.agents.negotiation import demo as negotiation_demo

    negotiation_demo.seed_demo(federation=federation, stdout=stdout)


def _certification_proposed(agent: Agent) -> bool:
    proposals = ThresholdProposal.objects.filter(act_type=ActType.CERTIFY_AGENT).exclude(status=ProposalStatus.EXPIRED)
    return any(p.payload.get("agent") == str(agent.uid) for p in proposals)


def _certify(agent: Agent, *, federation) -> None:
    aurelia, adrian = federation.institutions["aurelia"], federation.users["adrian"]
    ministry, ines = federation.institutions.get("ministry-interior"), federation.users.get("ines")
    proposal = services.agent_certification_propose(agent=agent, actor=adrian)
    trust_services.threshold_proposal_sign(proposal=proposal, authority=aurelia, actor=adrian)
    if ministry is not None and ines is not None:
        with institution_scope(ministry):
            trust_services.threshold_proposal_sign(proposal=proposal, authority=ministry, actor=ines)

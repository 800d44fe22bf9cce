"""Throwaway agents and clusters for tests, the red-team command and the benchmark.

The `redteam` engine does what its config says: answer honestly from the record, or
fabricate evidence, contradict the record, or decide something the cluster does not allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.agents.engines.base import EngineError, get_engine, register_engine
from apps.agents.models import Agent, AgentStatus
from apps.agents.proposals import Claim, Evidence, Proposal, Task
from apps.agents.services import agent_register
from apps.tenancy.scope import institution_scope

TASK_TYPE = "permits.review"
RECORD = {"applicant": {"age": 34, "resident": True}, "crowd_size": 120, "fee_paid": True}


class RedTeamEngine:
    name = "redteam"
    version = "1"

    def propose(self, task: Task, config: Mapping[str, Any]) -> Proposal:
        behaviour = config.get("behaviour", "honest")
        decision = config.get("decision", "approve")
        fields = config.get("fields", ["crowd_size", "fee_paid"])
        evidence = [Evidence("field", f, _value(task.record, f)) for f in fields]
        if behaviour == "fabricate":
            evidence.append(Evidence("field", "applicant.criminal_record", True))
        elif behaviour == "contradict":
            evidence = [Evidence("field", "crowd_size", 99999)]
        elif behaviour == "off_menu":
            decision = "grant_everything"
        return Proposal(
            decision=decision,
            confidence=float(config.get("confidence", 0.9)),
            explanation=f"{behaviour} answer",
            claims=[Claim(statement="The record supports this decision.", evidence=evidence)],
            engine=self.name,
            engine_version=self.version,
        )


def _value(record, path):
    value = record
    for part in path.split("."):
        value = value[part]
    return value


def ensure_engine() -> None:
    try:
        get_engine(RedTeamEngine.name)
    except EngineError:
        register_engine(RedTeamEngine())


def forget_engine() -> None:
    """Take the red-team engine out of the registry again (tests: the registry lists real engines only)."""
    from apps.agents.engines import base

    base._ENGINES.pop(RedTeamEngine.name, None)


def make_agent(institution, actor, name: str, *, certified: bool = True, capabilities=None, **config) -> Agent:
    """A redteam-engine agent; certified directly, as a fixture (certification proper is a
    threshold approval that these throwaway agents do not need)."""
    ensure_engine()
    with institution_scope(institution):
        agent = agent_register(
            institution=institution,
            actor=actor,
            name=name,
            purpose="Throwaway agent",
            capabilities=capabilities or [TASK_TYPE],
            engine="llm",  # any registered name passes registration; the engine is set below
            config={},
        )
    # fixture shortcut: the registry's engine choices do not list test engines
    Agent.all_institutions.filter(pk=agent.pk).update(
        engine=RedTeamEngine.name, config=config, status=AgentStatus.CERTIFIED if certified else AgentStatus.DRAFT
    )
    agent.refresh_from_db()
    return agent


def stages_of(*groups: list[Agent], names=("intake", "rules", "risk", "precedent", "validator")) -> list[dict]:
    return [{"name": names[i % len(names)], "agents": [str(a.uid) for a in g]} for i, g in enumerate(groups)]

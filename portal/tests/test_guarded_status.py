"""The one guarded transition every status change goes through."""

import pytest

from apps.agents.models import Agent, AgentStatus, ClusterRun, ClusterRunStatus
from portal.errors import InvalidTransition


def test_an_allowed_change_runs_the_model_s_hook():
    run = ClusterRun(status=ClusterRunStatus.QUEUED)
    run.transition_to(ClusterRunStatus.RUNNING)
    assert run.status == ClusterRunStatus.RUNNING and run.decided_at is None
    run.transition_to(ClusterRunStatus.DECIDED)
    assert run.decided_at is not None  # ClusterRun.on_transition


def test_a_refused_change_names_both_statuses_in_words_and_changes_nothing():
    run = ClusterRun(status=ClusterRunStatus.DECIDED)
    with pytest.raises(InvalidTransition) as refused:
        run.transition_to(ClusterRunStatus.RUNNING)
    assert refused.value.message == "A run that is “Decided” cannot become “Running”."
    assert run.status == ClusterRunStatus.DECIDED


def test_the_hook_sees_the_status_it_came_from():
    agent = Agent(status=AgentStatus.CERTIFIED)
    agent.transition_to(AgentStatus.SUSPENDED)
    assert agent.suspended_from == AgentStatus.CERTIFIED

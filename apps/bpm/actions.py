"""What a service task can do: each action registered once by name, like council subjects.

A service task names its action (`civitas:action="notify"`, or `camunda:topic` for Camunda
external tasks) and its parameters (`<civitas:param name=".." value=".."/>` literal, or
`expression=".."` evaluated safely over the task data when the task runs). The action runs
in a Celery task (apps/bpm/tasks.py) and returns either a dict of results, merged into the
task data before the instance goes on, or `Waiting(ref)`: something else resumes the call
later (`services.service_call_resume`), e.g. when an agent cluster's run finishes or a
council reaches its verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Run = Callable[..., Any]  # run(*, call, params) -> dict | Waiting; raises ActionFailed


class ActionFailed(Exception):
    """The action cannot complete (bad parameters at run time, refused by the other side)."""


@dataclass(frozen=True)
class Waiting:
    """The action started something (a cluster run, a council review); the call resumes later."""

    ref: Any


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    run: Run
    required_params: frozenset[str] = field(default_factory=frozenset)
    # network actions run outside the database transaction (a slow peer must not hold locks);
    # the others run inside the call's transaction, so a retried task never acts twice
    network: bool = False
    # for an action that waits: outcome(call) -> the result dict, an Exception (the call fails), or None
    # while it still waits; beat's poll and `services.service_calls_wake` resume the call with it
    outcome: Callable[..., Any] | None = None


_ACTIONS: dict[str, Action] = {}


def register_action(
    name: str, run: Run, *, label: str = "", required_params=(), network: bool = False, outcome=None
) -> Action:
    """Idempotent for the same function; another function under a taken name is a bug."""
    action = Action(
        name=name,
        label=label or name,
        run=run,
        required_params=frozenset(required_params),
        network=network,
        outcome=outcome,
    )
    existing = _ACTIONS.get(name)
    if existing is not None and existing.run is not run:
        raise RuntimeError(f"BPM action {name!r} is already registered")
    _ACTIONS[name] = action
    return action


def action_for(name: str) -> Action | None:
    return _ACTIONS.get(name)


def registered_actions() -> list[str]:
    return sorted(_ACTIONS)


def waiting_actions() -> list[str]:
    """The actions whose waiting calls beat's poll can resume."""
    return sorted(name for name, action in _ACTIONS.items() if action.outcome is not None)

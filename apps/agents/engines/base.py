"""The engine protocol, the registry of engines by name, and the one safe way to run one."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from apps.agents.proposals import Proposal, ProposalShapeError, Task
from portal.errors import ApplicationError

logger = logging.getLogger(__name__)


class EngineError(ApplicationError):
    """An engine could not produce a proposal; the cluster treats it as no proposal."""

    code = "engine_error"
    title = "The engine could not produce a proposal."


@runtime_checkable
class Engine(Protocol):
    name: str
    version: str

    def propose(self, task: Task, config: Mapping[str, Any]) -> Proposal:
        """Turn a task into a proposal. Raises: EngineError."""
        ...


_ENGINES: dict[str, Engine] = {}


def register_engine(engine: Engine) -> Engine:
    """Make an engine available by its name; a second engine with the same name is refused."""
    existing = _ENGINES.get(engine.name)
    if existing is not None and existing is not engine:
        raise ValueError(f"An engine named {engine.name!r} is already registered.")
    _ENGINES[engine.name] = engine
    return engine


def get_engine(name: str) -> Engine:
    """Raises: EngineError when no engine has that name."""
    try:
        return _ENGINES[name]
    except KeyError:
        known = ", ".join(sorted(_ENGINES)) or "none"
        raise EngineError(f"There is no engine named {name!r} (known: {known}).", code="engine_unknown") from None


def engine_names() -> list[str]:
    return sorted(_ENGINES)


def run_engine(name: str, task: Task, config: Mapping[str, Any] | None = None) -> Proposal:
    """Ask the named engine for a proposal, turning every failure into an EngineError.

    Raises: EngineError (unknown engine, engine failure, or a result that is not a
    well-formed Proposal)."""
    engine = get_engine(name)
    try:
        result = engine.propose(task, config or {})
    except EngineError:
        raise
    except ProposalShapeError as exc:
        raise EngineError(f"The {name} engine returned a malformed proposal: {exc.message}") from exc
    except Exception as exc:
        # An engine is third-party-ish code (a pickled model, a remote endpoint); one bad
        # engine must cost one proposal, not the cluster run.
        logger.exception("engine %s failed", name)
        raise EngineError(f"The {name} engine failed: {type(exc).__name__}: {exc}") from exc
    if isinstance(result, dict):
        try:
            result = Proposal.from_dict(result)
        except ProposalShapeError as exc:
            raise EngineError(f"The {name} engine returned a malformed proposal: {exc.message}") from exc
    if not isinstance(result, Proposal):
        raise EngineError(f"The {name} engine returned {type(result).__name__}, not a proposal.")
    return result

"""Engines turn a task into a proposal. Importing this package registers the built-in ones.

from apps.agents.engines import run_engine
proposal = run_engine("rules", task, config)   # raises EngineError, never anything else
"""

from apps.agents.engines import llm, precedent, rules, statistical  # noqa: F401  (registration)
from apps.agents.engines.base import Engine, EngineError, engine_names, get_engine, register_engine, run_engine

__all__ = ["Engine", "EngineError", "engine_names", "get_engine", "register_engine", "run_engine"]

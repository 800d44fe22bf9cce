"""Envelope types and the handlers that act on them once an envelope is accepted.

    @envelope_handler("documents.route")
    def document_route_receive(*, envelope: InboxEnvelope, recipient: Institution) -> None: ...

A handler runs inside the transaction that stores the inbox envelope, with the
recipient institution in scope. Raising `ApplicationError` rejects the envelope
(nothing is stored, the rejection is audited and the sender is told the code);
any other exception rolls back too and the sender retries later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[..., Any]

_handlers: dict[str, Handler] = {}


def envelope_handler(type: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        _handlers[type] = func
        return func

    return register


def handler_for(type: str) -> Handler | None:
    return _handlers.get(type)


def registered_types() -> list[str]:
    return sorted(_handlers)

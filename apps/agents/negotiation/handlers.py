"""The envelope types of the contract net; each handler calls one service.

They run in the inbox transaction with the recipient in scope; an ApplicationError rejects
the envelope (audited by federation, the sender's outbox shows the code and message).
"""

from __future__ import annotations

from apps.agents.negotiation import services
from apps.agents.negotiation import tasks as _tasks  # noqa: F401  (Celery's autodiscovery looks only in apps.agents.tasks)
from apps.federation.registry import envelope_handler


@envelope_handler("agents.cfp")
def cfp_receive(*, envelope, recipient) -> None:
    """Another institution invites this one's agents to bid."""
    services.received_call_store(envelope=envelope, recipient=recipient)


@envelope_handler("agents.bid")
def bid_receive(*, envelope, recipient) -> None:
    """An invited institution's agent bids on one of this institution's calls."""
    services.bid_receive(envelope=envelope, recipient=recipient)


@envelope_handler("agents.award")
def award_receive(*, envelope, recipient) -> None:
    services.award_outcome_receive(envelope=envelope, recipient=recipient, won=True)


@envelope_handler("agents.reject")
def reject_receive(*, envelope, recipient) -> None:
    services.award_outcome_receive(envelope=envelope, recipient=recipient, won=False)


@envelope_handler("agents.contract")
def contract_receive(*, envelope, recipient) -> None:
    services.contract_receive(envelope=envelope, recipient=recipient)


@envelope_handler("agents.cancel")
def cancel_receive(*, envelope, recipient) -> None:
    services.cancel_receive(envelope=envelope, recipient=recipient)

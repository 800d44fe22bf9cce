"""Live updates of a council's queue: new items, votes as they come, verdicts (after commit)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def council_group(*, institution_id: int, council_id: int) -> str:
    return f"i{institution_id}.council.{council_id}"


def broadcast(*, item, event: str, **data) -> None:
    """Tell the council's open pages that `event` happened to `item`; a channel layer that
    fails never fails the vote or the verdict."""
    payload = {"type": "council.event", "event": event, "item": item.pk, "status": item.status, **data}
    group = council_group(institution_id=item.institution_id, council_id=item.council_id)

    def send() -> None:
        try:
            layer = get_channel_layer()
            if layer is not None:
                async_to_sync(layer.group_send)(group, payload)
        except Exception:
            logger.warning("council live update failed", exc_info=True)

    transaction.on_commit(send, robust=True)

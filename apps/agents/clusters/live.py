"""Live progress of cluster runs: after commit, tell the run's open pages that it moved.

The services call `broadcast_run` where a run changes (a proposal stored, a stage done,
the outcome); apps/agents/consumers.py relays the message to readers of the run, whose
page then fetches the progress fragment. The message carries no more than the page shows.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from apps.agents.models import ClusterRun

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "cluster_run.update"  # handled by ClusterRunConsumer.cluster_run_update


def run_group(*, institution_id: int, run_id: int) -> str:
    # house rule: a group name starts with the institution
    return f"i{institution_id}.agents.run.{run_id}"


def run_state(run: ClusterRun, *, event: str = "state") -> dict:
    """What a run page needs to know to decide whether to refresh."""
    return {
        "event": event,
        "run": run.pk,
        "status": run.status,
        "progress": run.progress,
        "stage_count": run.stage_count,
        "finished": run.finished,
    }


def broadcast_run(run: ClusterRun, *, event: str) -> None:
    """After the surrounding transaction commits, tell the run's open pages; nothing if it rolls back.

    `event` is "proposal", "progress" or "finished". The state is taken now, inside the
    transaction that made it."""
    group = run_group(institution_id=run.institution_id, run_id=run.pk)
    message = {"type": MESSAGE_TYPE, **run_state(run, event=event)}
    transaction.on_commit(lambda: _send(group, message))


def _send(group: str, message: dict) -> None:
    # A missing or broken channel layer costs the live view, never the run: the run is
    # committed already, and the page falls back to polling.
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.warning("cluster run %s: live update not sent", message.get("run"), exc_info=True)

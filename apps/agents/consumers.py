"""The socket a cluster run's page listens on while the run is under way (static/js/cluster_run.js)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from apps.agents.clusters import live
from apps.agents.clusters.selectors import cluster_run_get
from apps.agents.views import RUN_READERS
from apps.tenancy.scope import institution_scope

NOT_ALLOWED = 4403
NOT_FOUND = 4404  # also another institution's run: outsiders cannot tell the two apart
MAX_ID = 2**63 - 1


def _run_state(*, institution, run_id: str) -> dict | None:
    """The run's current state, or None when it is not this institution's (or no run at all)."""
    if not (run_id.isascii() and run_id.isdigit()) or not 0 < int(run_id) <= MAX_ID:
        return None
    with institution_scope(institution):
        try:
            return live.run_state(cluster_run_get(institution=institution, run_id=int(run_id)))
        except Http404:
            return None


class ClusterRunConsumer(AsyncJsonWebsocketConsumer):
    """Sends the run's state on connect, then one message per change until it finishes."""

    group_name = ""

    async def connect(self):
        user = self.scope.get("user")
        institution = self.scope.get("institution")
        # Membership was checked by the tenancy websocket middleware; refuse if it was bypassed.
        if user is None or not user.is_authenticated or institution is None:
            await self.close(code=NOT_ALLOWED)
            return
        # The role before the run, so that a member without the role learns nothing of which runs exist.
        if not set(self.scope.get("institution_roles") or ()) & RUN_READERS:
            await self.close(code=NOT_ALLOWED)
            return
        run_id = str(self.scope["url_route"]["kwargs"].get("run_id", ""))
        if await database_sync_to_async(_run_state)(institution=institution, run_id=run_id) is None:
            await self.close(code=NOT_FOUND)
            return
        self.group_name = live.run_group(institution_id=institution.pk, run_id=int(run_id))
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        # Read again after joining: a change between the two reads also arrives as a message,
        # none is lost between the page's render and this socket.
        state = await database_sync_to_async(_run_state)(institution=institution, run_id=run_id)
        if state is None:  # deleted in between
            await self.close(code=NOT_FOUND)
            return
        await self._relay(state)

    async def disconnect(self, code):
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def cluster_run_update(self, event):
        await self._relay({k: v for k, v in event.items() if k != "type"})

    async def _relay(self, state: dict) -> None:
        await self.send_json(state)
        if state["finished"]:
            # nothing more will happen to this run: free the socket
            await self.close(code=1000)

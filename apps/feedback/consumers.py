"""The socket a council's pages listen on (static/js/council.js): one message per change of a case.

The services broadcast "item_created", "vote", "recusal", "verdict" and "escalated" after
commit (apps.feedback.live); only people who may see the council's queue join its group.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from apps.feedback import selectors
from apps.feedback.live import council_group
from apps.tenancy.scope import institution_scope

NOT_ALLOWED = 4403
NOT_FOUND = 4404  # also another institution's council: outsiders cannot tell the two apart
MAX_ID = 2**63 - 1


def _access(*, institution, user, council_id: str) -> int | None:
    """None when the user may follow the council's queue, else the close code."""
    if not (council_id.isascii() and council_id.isdigit()) or not 0 < int(council_id) <= MAX_ID:
        return NOT_FOUND
    with institution_scope(institution):
        try:
            council = selectors.council_get(institution=institution, council_id=int(council_id))
        except Http404:
            return NOT_FOUND
        return None if selectors.can_see_queue(council=council, user=user) else NOT_ALLOWED


class CouncilConsumer(AsyncJsonWebsocketConsumer):
    """Relays the council's events; the page then fetches what changed (no case data on the socket)."""

    group_name = ""

    async def connect(self):
        user = self.scope.get("user")
        institution = self.scope.get("institution")
        # Membership was checked by the tenancy websocket middleware; refuse if it was bypassed.
        if user is None or not user.is_authenticated or institution is None:
            await self.close(code=NOT_ALLOWED)
            return
        council_id = str(self.scope["url_route"]["kwargs"].get("council_id", ""))
        refused = await database_sync_to_async(_access)(institution=institution, user=user, council_id=council_id)
        if refused is not None:
            await self.close(code=refused)
            return
        self.group_name = council_group(institution_id=institution.pk, council_id=int(council_id))
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def council_event(self, event):
        await self.send_json({k: v for k, v in event.items() if k != "type"})

    async def receive_json(self, content, **kwargs):
        """The page only listens."""

"""The per-person notification socket the dashboard listens on."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.notifications.services import notification_group


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        institution = self.scope.get("institution")
        # Access was checked by the tenancy websocket middleware; refuse if it was bypassed.
        if user is None or not user.is_authenticated or institution is None:
            await self.close(code=4403)
            return
        self.group_name = notification_group(institution_id=institution.pk, user_id=user.pk)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "group_name", None):
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def notification_created(self, event):
        await self.send_json({k: v for k, v in event.items() if k != "type"})

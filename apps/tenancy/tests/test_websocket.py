"""Websockets check membership before a consumer joins any group."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.notifications.services import notification_send
from apps.tenancy.scope import institution_scope
from portal.asgi import application
from portal.testing import websocket_headers


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_member_receives_their_notifications_live(aurelia, ada):
    headers = await sync_to_async(websocket_headers)(ada)
    communicator = WebsocketCommunicator(application, "/ws/i/aurelia/notifications/", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected

    def send():
        with institution_scope(aurelia):
            notification_send(institution=aurelia, recipient=ada, title="Your review is due")

    await sync_to_async(send)()
    message = await communicator.receive_json_from(timeout=5)
    assert message["title"] == "Your review is due"
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_another_institutions_member_is_refused(aurelia, charlie):
    headers = await sync_to_async(websocket_headers)(charlie)
    communicator = WebsocketCommunicator(application, "/ws/i/aurelia/notifications/", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert not connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_anonymous_visitors_are_refused(aurelia):
    communicator = WebsocketCommunicator(
        application, "/ws/i/aurelia/notifications/", headers=await sync_to_async(websocket_headers)()
    )
    connected, _ = await communicator.connect(timeout=10)
    assert not connected

"""The websocket the dashboard listens on delivers what static/js/notifications.js reads.

live_server is WSGI only, so the browser test (tests/browser) runs its own in-process
ASGI server; this test pins the message contract without a browser.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.notifications.services import notification_send
from apps.tenancy.scope import institution_scope
from portal.asgi import application
from portal.testing import websocket_headers


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_socket_sends_the_fields_the_dashboard_script_reads_and_nothing_of_others(aurelia, bob, alice):
    communicator = WebsocketCommunicator(
        application, "/ws/i/aurelia/notifications/", headers=await sync_to_async(websocket_headers)(bob)
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected

    def send():
        with institution_scope(aurelia):
            notification_send(institution=aurelia, recipient=alice, title="For Alice only")
            return notification_send(
                institution=aurelia, recipient=bob, title="Permit ready", body="Collect it", url="/i/aurelia/"
            )

    notification = await sync_to_async(send)()
    message = await communicator.receive_json_from(timeout=5)
    assert set(message) == {"id", "title", "body", "url", "created_at"}
    assert message["id"] == notification.pk
    assert (message["title"], message["body"], message["url"]) == ("Permit ready", "Collect it", "/i/aurelia/")
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()

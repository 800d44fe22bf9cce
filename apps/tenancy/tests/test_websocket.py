"""Websockets check membership before a consumer joins any group."""

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from apps.notifications.services import notification_send
from apps.tenancy.scope import institution_scope
from portal.asgi import application


def _cookie_headers(user):
    client = Client()
    client.force_login(user)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()),
        (b"origin", b"http://testserver"),
        (b"host", b"testserver"),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_member_receives_their_notifications_live(aurelia, ada):
    from asgiref.sync import sync_to_async

    headers = await sync_to_async(_cookie_headers)(ada)
    communicator = WebsocketCommunicator(application, "/ws/i/aurelia/notifications/", headers=headers)
    connected, _ = await communicator.connect()
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
    from asgiref.sync import sync_to_async

    headers = await sync_to_async(_cookie_headers)(charlie)
    communicator = WebsocketCommunicator(application, "/ws/i/aurelia/notifications/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_anonymous_visitors_are_refused(aurelia):
    communicator = WebsocketCommunicator(
        application,
        "/ws/i/aurelia/notifications/",
        headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")],
    )
    connected, _ = await communicator.connect()
    assert not connected

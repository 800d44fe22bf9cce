"""Sending and reading notifications; delivery to open sockets happens after commit."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_append
from apps.notifications.models import Notification


def notification_group(*, institution_id: int, user_id: int) -> str:
    return f"i{institution_id}.u{user_id}.notifications"


@transaction.atomic
def notification_send(*, institution, recipient, title: str, body: str = "", url: str = "", actor=None) -> Notification:
    """Store a notification and push it to the recipient's open dashboards."""
    notification = Notification.objects.create(
        institution=institution, recipient=recipient, title=title[:200], body=body, url=url
    )
    audit_append(
        institution=institution,
        actor=actor,
        action="notifications.send",
        target=notification,
        changes={"recipient": recipient.username, "title": notification.title},
    )
    transaction.on_commit(lambda: _push(notification), robust=True)
    return notification


def _push(notification: Notification) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        notification_group(institution_id=notification.institution_id, user_id=notification.recipient_id),
        {
            "type": "notification.created",
            "id": notification.pk,
            "title": notification.title,
            "body": notification.body,
            "url": notification.url,
            "created_at": notification.created_at.isoformat(),
        },
    )


@transaction.atomic
def notification_mark_read(*, notification: Notification, actor) -> Notification:
    """Mark as read; reading twice changes nothing."""
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        audit_append(
            institution=notification.institution,
            actor=actor,
            action="notifications.read",
            target=notification,
        )
    return notification

"""Telling people: an in-app notification and an email (Django's email backend; the console by default)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from apps.notifications.services import notification_send

logger = logging.getLogger(__name__)


def tell(*, institution, people, title: str, body: str = "", url: str = "") -> None:
    """Notify each person in the app now (same transaction) and by email after commit.

    The notification is the given institution's row, whatever the caller's scope (a shared
    council tells the citizen of the institution whose case it is)."""
    from apps.tenancy.scope import institution_scope

    with institution_scope(institution):
        _tell(institution=institution, people=people, title=title, body=body, url=url)


def _tell(*, institution, people, title: str, body: str, url: str) -> None:
    seen = set()
    for person in people:
        if person is None or person.pk in seen:
            continue
        seen.add(person.pk)
        notification_send(institution=institution, recipient=person, title=title, body=body, url=url)
        if person.email:
            address = person.email

            def mail(address=address) -> None:
                try:
                    link = f"\n\n{settings.CIVITAS_NODE_URL.rstrip('/')}{url}" if url else ""
                    send_mail(title[:200], f"{body}{link}", None, [address], fail_silently=False)
                except Exception:
                    logger.warning("council email to a member failed", exc_info=True)

            transaction.on_commit(mail, robust=True)

"""Building signed envelopes in tests, as a sender institution of this node would."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.federation import envelopes
from apps.federation.services import _institution_signing_key, _sign
from apps.tenancy.models import Institution


def signed_document(
    *,
    sender: Institution,
    recipient_did: str,
    type: str = "federation.ping",
    body: dict | None = None,
    time: datetime | None = None,
    envelope_id: uuid.UUID | None = None,
) -> dict:
    """A document signed with the sender's institution key (created if it has none)."""
    with transaction.atomic():
        key = _institution_signing_key(institution=sender, actor=None)
    document = envelopes.unsigned_document(
        envelope_id=envelope_id or uuid.uuid4(),
        type=type,
        sender=sender.did,
        recipient=recipient_did,
        time=time or timezone.now(),
        body={"message": "hello"} if body is None else body,
    )
    return _sign(document=document, key=key)


def raw(document: dict) -> bytes:
    return envelopes.serialize(document)

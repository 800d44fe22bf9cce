"""Reads of the contract net; every one takes the institution."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from apps.agents.negotiation.models import Announcement, Bid, Contract, ReceivedCall, SentBid
from apps.tenancy.models import Institution


def _uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Http404 from None


def announcements_of(*, institution: Institution, status: str = "") -> QuerySet[Announcement]:
    announcements = Announcement.objects.filter(institution=institution)
    return announcements.filter(status=status) if status else announcements


def announcement_get(*, institution: Institution, announcement_uid) -> Announcement:
    """Raises: Http404 when the call is not this institution's."""
    announcement = Announcement.objects.filter(institution=institution, uid=_uuid(announcement_uid)).first()
    if announcement is None:
        raise Http404
    return announcement


def bids_of(*, institution: Institution, announcement: Announcement) -> list[Bid]:
    """The call's bids: by rank once awarded (excluded ones last), else in arrival order."""
    bids = list(Bid.objects.filter(institution=institution, announcement=announcement).select_related("agent"))
    return sorted(bids, key=lambda b: (b.rank is None, b.rank or 0, b.pk))


def contract_of(*, institution: Institution, announcement: Announcement) -> Contract | None:
    return (
        Contract.objects.filter(institution=institution, announcement=announcement)
        .select_related("bid", "signer")
        .first()
    )


def received_calls_of(*, institution: Institution) -> QuerySet[ReceivedCall]:
    return ReceivedCall.objects.filter(institution=institution)


def received_call_get(*, institution: Institution, call_uid) -> ReceivedCall:
    """Raises: Http404 when this institution received no such call."""
    call = ReceivedCall.objects.filter(institution=institution, call_uid=_uuid(call_uid)).first()
    if call is None:
        raise Http404
    return call


def sent_bids_of(*, institution: Institution, call: ReceivedCall) -> QuerySet[SentBid]:
    return SentBid.objects.filter(institution=institution, call=call).select_related("agent")


def sent_bid_delivery(*, institution: Institution, sent: SentBid) -> dict[str, str]:
    """Where the bid's envelope stands: pending, delivered, or failed with the announcer's reason."""
    from apps.federation.selectors import outbox_for

    outbox = outbox_for(institution=institution).filter(envelope_id=sent.envelope_id).first()
    if outbox is None:
        return {"status": "unknown", "detail": ""}
    return {"status": outbox.status, "detail": outbox.last_error}

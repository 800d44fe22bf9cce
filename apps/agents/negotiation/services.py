"""Writes of the contract net: announce, bid, award, sign the contract, cancel.

The announcer's side (`Announcement`, `Bid`, `Contract`) and an invited institution's side
(`ReceivedCall`, `SentBid`) are written only by their own institution; between the two
travel signed envelopes (`handlers.py`): `agents.cfp` (the call), `agents.bid`,
`agents.award` / `agents.reject`, `agents.contract` (the signed contract) and
`agents.cancel`. Each write checks the role, changes and audits in one transaction.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from apps.agents.models import Agent, AgentReputation, ReputationSnapshot
from apps.agents.negotiation import scoring
from apps.agents.negotiation.models import (
    Announcement,
    AnnouncementStatus,
    Bid,
    BidOutcome,
    BidSource,
    Contract,
    ContractStatus,
    ReceivedCall,
    ReceivedCallStatus,
    SentBid,
)
from apps.agents.selectors import agent_is_active
from apps.agents.services import TASK_TYPE, _require_admin
from apps.audit.canonical import canonical_json
from apps.audit.services import audit_append
from apps.federation import envelopes
from apps.federation.selectors import institution_names_by_did
from apps.federation.services import envelope_send
from apps.identity import keys
from apps.identity.did import DidResolutionError, did_key_from_public_key, multikey_decode
from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey
from apps.identity.services import signing_key_sign
from apps.tenancy.models import Institution, Role
from apps.tenancy.selectors import memberships_of_institution
from portal.errors import ApplicationError, Conflict, InvalidTransition, PermissionDenied, ValidationFailed

MAX_SPECIFICATION_BYTES = 16_000
MAX_INVITED = 20
MAX_DESCRIPTION = 5000
MAX_PRICE = Decimal("1000000000000")  # below the 14 digits of the column
MAX_HOURS = 100_000  # about eleven years
MAX_BIDDING_DAYS = 90
MIN_BIDDING_MINUTES = 1
CURRENCY_LENGTH = 3
BID_TYPE = "civitas.agents.bid"
CONTRACT_TYPE = "civitas.agents.contract"
SIGNATURE_TYPE = "civitas.agents.contract-signature"


class BiddingClosed(Conflict):
    code = "bidding_closed"


class DuplicateBid(Conflict):
    code = "duplicate_bid"


class CapabilityMissing(PermissionDenied):
    code = "capability_missing"


class AgentInactive(PermissionDenied):
    code = "agent_inactive"


class InvalidBidSignature(ApplicationError):
    code = "invalid_bid_signature"
    status = 403


class NotInvited(PermissionDenied):
    code = "not_invited"


# --- shared helpers ---------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Raises: ValueError."""
    if not isinstance(text, str) or len(text) > 200:
        raise ValueError("not a signature")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _iso(value: datetime) -> str:
    return envelopes.format_time(value)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _confidence(value: Decimal) -> str:
    return f"{value:.3f}"


def _actor_label(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, Agent):
        return f"agent:{actor.uid}"
    return actor if isinstance(actor, str) else actor.get_username()


def _require_admin_or_agent(*, actor, institution: Institution, agent: Agent) -> None:
    """An administrator bids on an agent's behalf, or the agent bids itself from its policy (the task)."""
    if isinstance(actor, Agent):
        if actor.pk != agent.pk:
            raise PermissionDenied(_("An agent bids only for itself."))
        return
    if actor is None or isinstance(actor, str):
        raise PermissionDenied(_("Only an institution administrator can bid on an agent's behalf."))
    try:
        _require_admin(actor=actor, institution=institution)
    except PermissionDenied:
        raise PermissionDenied(_("Only an institution administrator can bid on an agent's behalf.")) from None


def _agent_key(agent: Agent) -> SigningKey:
    return SigningKey.objects.get(owner_type=KeyOwnerType.AGENT, owner_id=str(agent.uid), status=KeyStatus.ACTIVE)


def _admins(institution: Institution):
    return [m.user for m in memberships_of_institution(institution=institution).filter(role=Role.INSTITUTION_ADMIN)]


def _notify_admins(*, institution: Institution, title: str, url: str, actor=None) -> None:
    from apps.notifications.services import notification_send

    for user in _admins(institution):
        notification_send(institution=institution, recipient=user, title=title, url=url, actor=actor)


def _call_url(institution: Institution, announcement_uid, page: str = "negotiation_detail") -> str:
    return reverse(
        f"agents:{page}", kwargs={"institution_slug": institution.slug, "announcement_uid": announcement_uid}
    )


def _received_url(institution: Institution, call_uid) -> str:
    return reverse("agents:negotiation_incoming", kwargs={"institution_slug": institution.slug, "call_uid": call_uid})


# --- validation -------------------------------------------------------------------------


def clean_bid_values(
    *,
    price: Any,
    currency: Any,
    hours: Any,
    confidence: Any,
    call_currency: str,
    max_price: Decimal | None,
    max_hours: int | None,
) -> tuple[Decimal, str, int, Decimal]:
    """A bid's price (Decimal, 2 places), currency (the call's), hours (whole) and confidence (0..1, 3 places).

    Raises: ValidationFailed naming each field that is wrong."""
    errors: dict[str, list[str]] = {}
    cleaned_price = _decimal(price)
    if cleaned_price is None or cleaned_price < 0 or cleaned_price >= MAX_PRICE:
        errors["price"] = [_("The price is an amount of money of zero or more, such as 1250.00.")]
    elif cleaned_price != cleaned_price.quantize(Decimal("0.01")):
        errors["price"] = [_("The price has at most two decimals.")]
    elif max_price is not None and cleaned_price > max_price:
        errors["price"] = [
            _("The call accepts at most %(max)s %(currency)s.") % {"max": _money(max_price), "currency": call_currency}
        ]
    currency = str(currency or "").strip().upper()
    if currency != call_currency:
        errors["currency"] = [_("The call asks for prices in %(currency)s.") % {"currency": call_currency}]
    if isinstance(hours, bool) or not isinstance(hours, (int, str)) or not str(hours).strip().isdigit():
        errors["hours"] = [_("The time is a whole number of hours, at least 1.")]
        cleaned_hours = 0
    else:
        cleaned_hours = int(str(hours).strip())
        if not 1 <= cleaned_hours <= MAX_HOURS:
            errors["hours"] = [_("The time is between 1 and %(max)s hours.") % {"max": MAX_HOURS}]
        elif max_hours is not None and cleaned_hours > max_hours:
            errors["hours"] = [_("The call accepts at most %(max)s hours.") % {"max": max_hours}]
    cleaned_confidence = _decimal(confidence)
    if cleaned_confidence is None or not Decimal(0) <= cleaned_confidence <= Decimal(1):
        errors["confidence"] = [_("The confidence is a number between 0 and 1.")]
    elif cleaned_confidence != cleaned_confidence.quantize(Decimal("0.001")):
        errors["confidence"] = [_("The confidence has at most three decimals.")]
    if errors:
        raise ValidationFailed(errors=errors)
    return (
        cleaned_price.quantize(Decimal("0.01")),
        currency,
        cleaned_hours,
        cleaned_confidence.quantize(Decimal("0.001")),
    )


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        value = repr(value)  # 0.85 stays 0.85, not its binary expansion
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _clean_announcement(
    *,
    institution: Institution,
    task_type: Any,
    title: Any,
    description: Any,
    specification: Any,
    weights: Any,
    currency: Any,
    max_price: Any,
    max_hours: Any,
    bidding_deadline: Any,
    invited: Any,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    task_type = str(task_type or "").strip()
    if len(task_type) > 80 or not TASK_TYPE.match(task_type):
        errors["task_type"] = [_("A task type is lower-case words joined by dots, such as “services.maintenance”.")]
    cleaned["task_type"] = task_type
    cleaned["title"] = str(title or "").strip()
    if not cleaned["title"] or len(cleaned["title"]) > 200:
        errors["title"] = [_("A title of at most 200 characters is required.")]
    cleaned["description"] = str(description or "").strip()
    if len(cleaned["description"]) > MAX_DESCRIPTION:
        errors["description"] = [_("At most %(n)s characters.") % {"n": MAX_DESCRIPTION}]
    if isinstance(specification, str):
        try:
            specification = json.loads(specification or "{}")
        except ValueError:
            specification = None
    if not isinstance(specification, dict):
        errors["specification"] = [_("The specification is a JSON object.")]
    else:
        try:
            size = len(canonical_json(specification))
        except (TypeError, ValueError):
            size = MAX_SPECIFICATION_BYTES + 1
        if size > MAX_SPECIFICATION_BYTES:
            errors["specification"] = [
                _("The specification is larger than %(n)s bytes.") % {"n": MAX_SPECIFICATION_BYTES}
            ]
        cleaned["specification"] = specification
    try:
        cleaned["weights"] = scoring.clean_weights(weights)
    except scoring.WeightsError as error:
        errors["weights"] = [str(error)]
    currency = str(currency or "").strip().upper()
    if len(currency) != CURRENCY_LENGTH or not currency.isalpha() or not currency.isascii():
        errors["currency"] = [_("A currency is a three-letter ISO 4217 code, such as EUR.")]
    cleaned["currency"] = currency
    cleaned["max_price"] = None
    if max_price not in (None, ""):
        price = _decimal(max_price)
        if price is None or price <= 0 or price >= MAX_PRICE or price != price.quantize(Decimal("0.01")):
            errors["max_price"] = [_("The highest price is an amount of money above zero, with at most two decimals.")]
        else:
            cleaned["max_price"] = price.quantize(Decimal("0.01"))
    cleaned["max_hours"] = None
    if max_hours not in (None, ""):
        if isinstance(max_hours, bool) or not str(max_hours).strip().isdigit() or not 1 <= int(max_hours) <= MAX_HOURS:
            errors["max_hours"] = [
                _("The longest time is a whole number of hours between 1 and %(n)s.") % {"n": MAX_HOURS}
            ]
        else:
            cleaned["max_hours"] = int(max_hours)
    deadline = bidding_deadline
    if isinstance(deadline, str):
        deadline = parse_datetime(deadline.strip())
    now = timezone.now()
    if not isinstance(deadline, datetime) or timezone.is_naive(deadline):
        errors["bidding_deadline"] = [_("Give the bidding deadline as a date and time with its time zone.")]
    elif deadline < now + timedelta(minutes=MIN_BIDDING_MINUTES) or deadline > now + timedelta(days=MAX_BIDDING_DAYS):
        errors["bidding_deadline"] = [
            _("The bidding deadline is between a minute and %(days)s days from now.") % {"days": MAX_BIDDING_DAYS}
        ]
    cleaned["bidding_deadline"] = deadline
    if isinstance(invited, str):
        invited = [part.strip() for part in invited.replace(",", "\n").splitlines() if part.strip()]
    if invited is None:
        invited = []
    if not isinstance(invited, list) or len(invited) > MAX_INVITED:
        errors["invited"] = [_("Invite at most %(n)s institutions, by their DIDs.") % {"n": MAX_INVITED}]
    else:
        bad = [str(d) for d in invited if not isinstance(d, str) or len(d) > 300 or not envelopes.DID_RE.match(d)]
        if bad:
            errors["invited"] = [_("These are not DIDs: %(bad)s.") % {"bad": ", ".join(bad[:5])}]
        elif institution.did in invited:
            errors["invited"] = [_("This institution's own agents may bid without an invitation.")]
        elif any(not d.startswith("did:web:") for d in invited):
            errors["invited"] = [_("Invite institutions by their did:web identifiers.")]
        cleaned["invited"] = list(dict.fromkeys(invited))
    if errors:
        raise ValidationFailed(errors=errors)
    return cleaned


# --- the announcer ----------------------------------------------------------------------


def cfp_body(announcement: Announcement) -> dict[str, Any]:
    """What an invited institution is told of a call (`agents.cfp`)."""
    return {
        "call": str(announcement.uid),
        "announcer_name": announcement.institution.name,
        "task_type": announcement.task_type,
        "title": announcement.title,
        "description": announcement.description,
        "specification": announcement.specification,
        "weights": announcement.weights,
        "currency": announcement.currency,
        "max_price": _money(announcement.max_price) if announcement.max_price is not None else None,
        "max_hours": announcement.max_hours,
        "bidding_deadline": _iso(announcement.bidding_deadline),
    }


@transaction.atomic
def announcement_create(
    *,
    institution: Institution,
    actor,
    task_type: str,
    title: str,
    description: str = "",
    specification: Any = None,
    weights: Any,
    currency: str,
    max_price: Any = None,
    max_hours: Any = None,
    bidding_deadline: Any,
    invited: Any = None,
) -> Announcement:
    """Open a call for proposals; the invited institutions get it as a signed `agents.cfp` envelope.

    After commit, this institution's agents with a bidding policy bid, and the award is
    scheduled for the deadline.
    Raises: PermissionDenied, ValidationFailed."""
    _require_admin(actor=actor, institution=institution)
    cleaned = _clean_announcement(
        institution=institution,
        task_type=task_type,
        title=title,
        description=description,
        specification=specification if specification is not None else {},
        weights=weights,
        currency=currency,
        max_price=max_price,
        max_hours=max_hours,
        bidding_deadline=bidding_deadline,
        invited=invited,
    )
    weights = cleaned.pop("weights")
    announcement = Announcement.objects.create(
        institution=institution,
        weight_price=weights["price"],
        weight_time=weights["time"],
        weight_confidence=weights["confidence"],
        created_by=actor if getattr(actor, "pk", None) else None,
        **cleaned,
    )
    audit_append(
        institution=institution,
        actor=actor,
        action="agents.negotiation.announce",
        target=announcement,
        changes={**cfp_body(announcement), "invited": announcement.invited},
    )
    body = cfp_body(announcement)
    for did in announcement.invited:
        try:
            envelope_send(sender=institution, recipient_did=did, type="agents.cfp", body=body, actor=actor)
        except ValidationFailed as error:
            detail = "; ".join(str(m) for messages in error.extra.get("errors", {}).values() for m in messages)
            raise ValidationFailed(
                errors={"invited": [_("%(did)s cannot be reached: %(detail)s") % {"did": did, "detail": detail}]}
            ) from None
    _after_commit_schedule(announcement)
    return announcement


def _after_commit_schedule(announcement: Announcement) -> None:
    from apps.agents.negotiation import tasks

    announcement_id, institution_id, deadline = (
        announcement.pk,
        announcement.institution_id,
        announcement.bidding_deadline,
    )
    transaction.on_commit(
        lambda: tasks.announcement_autobid_task.delay(announcement_id=announcement_id, institution_id=institution_id),
        robust=True,
    )
    # the award at the deadline; beat's sweep (`announcements_award_due_task`) catches a lost one
    transaction.on_commit(
        lambda: tasks.announcement_award_task.apply_async(
            kwargs={"announcement_id": announcement_id, "institution_id": institution_id}, eta=deadline
        ),
        robust=True,
    )


def bid_document(
    *,
    call_uid,
    announcer_did: str,
    agent_did: str,
    bidder_did: str,
    price: Decimal,
    currency: str,
    hours: int,
    confidence: Decimal,
) -> dict[str, Any]:
    """The canonical bid an agent signs: amounts as text, so every node reads the same bytes."""
    return {
        "type": BID_TYPE,
        "call": str(call_uid),
        "announcer": announcer_did,
        "agent": agent_did,
        "institution": bidder_did,
        "price": {"amount": _money(price), "currency": currency},
        "hours": hours,
        "confidence": _confidence(confidence),
    }


def bid_sign(*, agent: Agent, document: dict[str, Any]) -> str:
    """The agent's Ed25519 signature over the canonical bid, base64url."""
    return b64url(signing_key_sign(key=_agent_key(agent), message=canonical_json(document)))


def bid_signature_valid(*, document: dict[str, Any], signature: str) -> bool:
    """Check a bid against the public key in its agent's did:key (the DID is the key)."""
    agent_did = document.get("agent")
    if not isinstance(agent_did, str) or not agent_did.startswith("did:key:"):
        return False
    try:
        public_key = multikey_decode(agent_did.removeprefix("did:key:"))
        raw_signature = b64url_decode(signature)
    except (DidResolutionError, ValueError):
        return False
    return keys.verify(public_key, raw_signature, canonical_json(document))


def _check_open(announcement: Announcement) -> None:
    if announcement.status != AnnouncementStatus.OPEN:
        raise BiddingClosed(
            _("This call is “%(status)s”; it takes no more bids.") % {"status": announcement.get_status_display()}
        )
    if timezone.now() >= announcement.bidding_deadline:
        raise BiddingClosed(_("Bidding closed at %(deadline)s.") % {"deadline": _iso(announcement.bidding_deadline)})


def _check_agent_may_bid(*, agent: Agent, task_type: str) -> None:
    if not agent_is_active(agent):
        raise AgentInactive(_("Only a certified agent that is not suspended may bid."))
    if task_type not in (agent.capabilities or []):
        raise CapabilityMissing(
            _("The agent “%(name)s” does not have the capability %(task_type)s.")
            % {"name": agent.name, "task_type": task_type}
        )


def _lock_announcement(announcement: Announcement) -> Announcement:
    # tenancy: the caller's own call, re-read under a lock in its institution
    return Announcement.all_institutions.select_for_update().get(
        pk=announcement.pk, institution_id=announcement.institution_id
    )


def _store_bid(*, announcement: Announcement, **fields) -> Bid:
    if Bid.all_institutions.filter(announcement=announcement, agent_did=fields["agent_did"]).exists():
        raise DuplicateBid(_("This agent has already bid on this call; a bid cannot be changed."))
    try:
        with transaction.atomic():
            return Bid.objects.create(institution=announcement.institution, announcement=announcement, **fields)
    except IntegrityError:
        raise DuplicateBid(_("This agent has already bid on this call; a bid cannot be changed.")) from None


@transaction.atomic
def bid_submit(
    *, announcement: Announcement, agent: Agent, price: Any, currency: Any, hours: Any, confidence: Any, actor
) -> Bid:
    """A bid of one of the announcer's own agents, signed by the agent's key.

    `actor` is an administrator bidding on the agent's behalf, or the agent itself (its
    bidding policy, from the task).
    Raises: PermissionDenied, CapabilityMissing, AgentInactive, BiddingClosed, DuplicateBid, ValidationFailed."""
    institution = announcement.institution
    _require_admin_or_agent(actor=actor, institution=institution, agent=agent)
    if agent.institution_id != institution.pk:
        raise PermissionDenied(_("Agents of other institutions bid through their institution, by envelope."))
    announcement = _lock_announcement(announcement)
    _check_open(announcement)
    _check_agent_may_bid(agent=agent, task_type=announcement.task_type)
    price, currency, hours, confidence = clean_bid_values(
        price=price,
        currency=currency,
        hours=hours,
        confidence=confidence,
        call_currency=announcement.currency,
        max_price=announcement.max_price,
        max_hours=announcement.max_hours,
    )
    document = bid_document(
        call_uid=announcement.uid,
        announcer_did=institution.did,
        agent_did=agent.did,
        bidder_did=institution.did,
        price=price,
        currency=currency,
        hours=hours,
        confidence=confidence,
    )
    bid = _store_bid(
        announcement=announcement,
        source=BidSource.LOCAL,
        agent=agent,
        agent_did=agent.did,
        agent_name=agent.name,
        bidder_did=institution.did,
        bidder_name=institution.name,
        price=price,
        currency=currency,
        hours=hours,
        confidence=confidence,
        document=document,
        signature=bid_sign(agent=agent, document=document),
        submitted_by=_actor_label(actor),
    )
    audit_append(
        institution=institution,
        actor=actor,
        action="agents.negotiation.bid",
        target=bid,
        changes={"call": str(announcement.uid), "bid": document, "signature": bid.signature, "source": bid.source},
    )
    return bid


BID_BODY_KEYS = {"bid", "signature", "agent_name", "capabilities"}


@transaction.atomic
def bid_receive(*, envelope, recipient: Institution) -> Bid:
    """An `agents.bid` envelope from an invited institution: verify and store the agent's bid.

    The envelope's signature (checked by federation) binds the bidding institution, which
    vouches for its agent's capabilities and certification; the agent's own signature over
    the canonical bid binds the agent to its price, time and confidence.
    Raises: EnvelopeRejected, NotInvited, BiddingClosed, CapabilityMissing, InvalidBidSignature,
    DuplicateBid, ValidationFailed (each rejects the envelope, audited by federation)."""
    body = envelope.body
    if not isinstance(body, dict) or set(body) != BID_BODY_KEYS or not isinstance(body.get("bid"), dict):
        raise envelopes.reject(
            "invalid_body", _("A bid's body is {bid, signature, agent_name, capabilities}, the bid an object.")
        )
    document, signature = body["bid"], body["signature"]
    expected_keys = {"type", "call", "announcer", "agent", "institution", "price", "hours", "confidence"}
    price = document.get("price")
    if (
        set(document) != expected_keys
        or document.get("type") != BID_TYPE
        or not isinstance(price, dict)
        or set(price) != {"amount", "currency"}
        or not isinstance(body["capabilities"], list)
        or not isinstance(body["agent_name"], str)
        or not isinstance(signature, str)
    ):
        raise envelopes.reject("invalid_body", _("The bid is not a canonical bid of this protocol."))
    if document["institution"] != envelope.sender_did:
        raise NotInvited(_("A bid names the institution that sends it."))
    if document["announcer"] != recipient.did:
        raise envelopes.reject("invalid_body", _("The bid is addressed to another institution."))
    # tenancy: the recipient's own calls (the handler runs in its scope)
    announcement = Announcement.objects.filter(uid=_uuid_or_none(document["call"])).first()
    if announcement is None:
        raise envelopes.reject("unknown_call", _("This institution has no such call for proposals."), status=404)
    announcement = _lock_announcement(announcement)
    if envelope.sender_did not in announcement.invited:
        raise NotInvited(_("Only institutions invited to this call may bid on it."))
    _check_open(announcement)
    if announcement.task_type not in body["capabilities"]:
        raise CapabilityMissing(
            _("The agent does not have the capability %(task_type)s.") % {"task_type": announcement.task_type}
        )
    amount, currency, hours, confidence = clean_bid_values(
        price=price["amount"],
        currency=price["currency"],
        hours=document["hours"],
        confidence=document["confidence"],
        call_currency=announcement.currency,
        max_price=announcement.max_price,
        max_hours=announcement.max_hours,
    )
    canonical = bid_document(
        call_uid=announcement.uid,
        announcer_did=recipient.did,
        agent_did=str(document["agent"]),
        bidder_did=envelope.sender_did,
        price=amount,
        currency=currency,
        hours=hours,
        confidence=confidence,
    )
    # the agent signed the canonical form; a bid written any other way does not verify
    if canonical != document or not bid_signature_valid(document=document, signature=signature):
        raise InvalidBidSignature(_("The agent's signature does not match the bid."))
    names = institution_names_by_did({envelope.sender_did})
    bid = _store_bid(
        announcement=announcement,
        source=BidSource.ENVELOPE,
        agent=None,
        agent_did=document["agent"],
        agent_name=body["agent_name"].strip()[:200] or document["agent"][:200],
        bidder_did=envelope.sender_did,
        bidder_name=names.get(envelope.sender_did, ""),
        price=amount,
        currency=currency,
        hours=hours,
        confidence=confidence,
        document=document,
        signature=signature,
        envelope_id=envelope.envelope_id,
        submitted_by=envelope.sender_did[:200],
    )
    audit_append(
        institution=recipient,
        actor=envelope.sender_did,
        action="agents.negotiation.bid_receive",
        target=bid,
        changes={
            "call": str(announcement.uid),
            "bid": document,
            "signature": signature,
            "envelope_id": str(envelope.envelope_id),
        },
    )
    return bid


def _uuid_or_none(value: Any):
    import uuid

    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _local_reputation(*, institution: Institution, agent_ids: list[int]) -> tuple[dict[int, float], int | None]:
    """Each agent's weight from the institution's latest reputation snapshot, and the snapshot's id."""
    # tenancy: explicit institution filter (the award runs from a task too)
    snapshot = (
        ReputationSnapshot.all_institutions.filter(institution=institution).order_by("-computed_at", "-pk").first()
    )
    if snapshot is None:
        return {a: scoring.NEUTRAL_WEIGHT for a in agent_ids}, None
    rows = AgentReputation.all_institutions.filter(institution=institution, snapshot=snapshot)
    count = rows.count()
    scores = dict(rows.filter(agent_id__in=agent_ids).values_list("agent_id", "score"))
    weights = {a: scoring.reputation_weight(score=scores.get(a), agents_in_snapshot=count) for a in agent_ids}
    return weights, snapshot.pk


def contract_document(*, contract_uid, announcement: Announcement, bid: Bid) -> dict[str, Any]:
    """The canonical contract: parties, task, price, time and the winning bid as the agent signed it."""
    return {
        "type": CONTRACT_TYPE,
        "contract": str(contract_uid),
        "call": str(announcement.uid),
        "task": {
            "type": announcement.task_type,
            "title": announcement.title,
            "description": announcement.description,
            "specification": announcement.specification,
        },
        "client": {"institution": announcement.institution.did, "name": announcement.institution.name},
        "contractor": {
            "institution": bid.bidder_did,
            "name": bid.bidder_name,
            "agent": bid.agent_did,
            "agent_name": bid.agent_name,
        },
        "price": {"amount": _money(bid.price), "currency": bid.currency},
        "hours": bid.hours,
        "bid": {"document": bid.document, "signature": bid.signature},
        "awarded_at": _iso(announcement.awarded_at or timezone.now()),
    }


def _digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document)).hexdigest()


@transaction.atomic
def announcement_award(*, announcement: Announcement, actor) -> Announcement:
    """Score every bid, award the best one and draft its contract, once bidding has closed.

    Each bid's criteria, reputation weight, score and rank are recorded with the reasoning;
    a local agent suspended (or stripped of the capability) since it bid is excluded. The
    winner's institution gets `agents.award`, the other bidding institutions `agents.reject`.
    No acceptable bid: the call fails. `actor` None is the task at the deadline.
    Raises: PermissionDenied, Conflict (bidding still open), InvalidTransition."""
    institution = announcement.institution
    _require_admin(actor=actor, institution=institution)
    announcement = _lock_announcement(announcement)
    if announcement.status != AnnouncementStatus.OPEN:
        raise InvalidTransition(
            _("Only an open call can be awarded; this one is “%(status)s”.")
            % {"status": announcement.get_status_display()}
        )
    if timezone.now() < announcement.bidding_deadline:
        raise Conflict(
            _("Bidding is open until %(deadline)s; award after it closes.")
            % {"deadline": _iso(announcement.bidding_deadline)},
            code="bidding_open",
        )
    bids = list(Bid.all_institutions.filter(announcement=announcement).select_related("agent").order_by("pk"))
    eligible, excluded = [], []
    for bid in bids:
        if bid.source == BidSource.LOCAL:
            if bid.agent is None or not agent_is_active(bid.agent):
                bid.note = _("Excluded: the agent is no longer certified or is suspended.")
                excluded.append(bid)
                continue
            if announcement.task_type not in (bid.agent.capabilities or []):
                bid.note = _("Excluded: the agent no longer has the capability.")
                excluded.append(bid)
                continue
        eligible.append(bid)
    local_weights, snapshot_id = _local_reputation(
        institution=institution, agent_ids=[b.agent_id for b in eligible if b.agent_id]
    )
    inputs = [
        scoring.BidInput(
            key=bid.agent_did,
            price=bid.price,
            hours=bid.hours,
            confidence=bid.confidence,
            reputation=local_weights.get(bid.agent_id, scoring.NEUTRAL_WEIGHT)
            if bid.source == BidSource.LOCAL
            else scoring.NEUTRAL_WEIGHT,
            order=bid.pk,
        )
        for bid in eligible
    ]
    ranked = scoring.score_bids(inputs, announcement.weights)
    by_key = {r.key: r for r in ranked}
    winner: Bid | None = None
    for bid in eligible:
        result = by_key[bid.agent_did]
        bid.reputation_weight = result.reputation
        bid.criteria_score = result.criteria_score
        bid.score = result.score
        bid.rank = result.rank
        bid.outcome = BidOutcome.WON if result.rank == 1 else BidOutcome.LOST
        if result.rank == 1:
            winner = bid
    for bid in excluded:
        bid.outcome = BidOutcome.EXCLUDED
    for bid in bids:
        bid.save(update_fields=["reputation_weight", "criteria_score", "score", "rank", "outcome", "note"])
    announcement.transition_to(AnnouncementStatus.AWARDED if winner else AnnouncementStatus.FAILED)
    announcement.award_reasoning = {
        "weights": announcement.weights,
        "rule": "score = (w_price * lowest_price/price + w_time * shortest/hours + w_confidence * "
        "confidence/highest_confidence) * reputation_weight; ties: lower price, shorter time, "
        "higher confidence, earlier bid",
        "reputation_snapshot": snapshot_id,
        "remote_reputation": "neutral (1.0): this institution keeps no reputation of other institutions' agents",
        "bids": [r.to_dict() for r in ranked],
        "excluded": [{"agent": b.agent_did, "reason": b.note} for b in excluded],
        "winner": winner.agent_did if winner else None,
        "explanation": scoring.explain(
            ranked,
            announcement.weights,
            names={b.agent_did: f"{b.agent_name} ({b.bidder_name or b.bidder_did})" for b in eligible},
        ),
    }
    announcement.status_reason = announcement.award_reasoning["explanation"]
    announcement.save()
    contract = None
    if winner is not None:
        contract = Contract(institution=institution, announcement=announcement, bid=winner)
        contract.document = contract_document(contract_uid=contract.uid, announcement=announcement, bid=winner)
        contract.digest = _digest(contract.document)
        contract.save()
    audit_append(
        institution=institution,
        actor=actor,
        action="agents.negotiation.award" if winner else "agents.negotiation.fail",
        target=announcement,
        changes={"call": str(announcement.uid), **announcement.award_reasoning},
    )
    if contract is not None:
        audit_append(
            institution=institution,
            actor=actor,
            action="agents.negotiation.contract_draft",
            target=contract,
            changes={"contract": str(contract.uid), "digest": contract.digest, "bid": winner.agent_did},
        )
        _notify_admins(
            institution=institution,
            title=_("A contract awaits a signature: %(title)s") % {"title": announcement.title},
            url=_call_url(institution, announcement.uid, "negotiation_contract"),
        )
    # the winner's institution first, so it never reads "not won" while its award is on the way
    for bid in sorted(bids, key=lambda b: b is not winner):
        if bid.source != BidSource.ENVELOPE:
            continue
        envelope_send(
            sender=institution,
            recipient_did=bid.bidder_did,
            type="agents.award" if bid is winner else "agents.reject",
            body={
                "call": str(announcement.uid),
                "agent": bid.agent_did,
                "score": bid.score,
                "rank": bid.rank,
                "winning_score": winner.score if winner else None,
                "bids": len(bids),
            },
            actor=actor,
        )
    return announcement


@transaction.atomic
def contract_sign(*, contract: Contract, actor, confirm: bool) -> Contract:
    """A person (an administrator of the announcer) signs the contract with their own key.

    The signature is Ed25519 over a canonical statement naming the contract's digest, the
    person's did:key and the time; identity creates the person's key on first use.
    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    from apps.identity.credentials.present import user_key
    from apps.identity.credentials.services import user_did_ensure

    institution = contract.institution
    if actor is None or isinstance(actor, (str, Agent)):
        raise PermissionDenied(_("A contract is signed by a person."))
    _require_admin(actor=actor, institution=institution)
    if confirm is not True:
        raise ValidationFailed(errors={"confirm": [_("Confirm that you have read the contract and sign it.")]})
    # tenancy: the caller's own contract, re-read under a lock
    contract = Contract.all_institutions.select_for_update().get(pk=contract.pk, institution=institution)
    announcement = _lock_announcement(contract.announcement)
    contract.transition_to(ContractStatus.SIGNED)
    announcement.transition_to(AnnouncementStatus.CONTRACTED)
    did = user_did_ensure(user=actor)
    key = user_key(user=actor)
    statement = {
        "type": SIGNATURE_TYPE,
        "contract": str(contract.uid),
        "contract_digest": contract.digest,
        "signer": {"did": did, "name": str(actor), "username": actor.get_username()},
        "on_behalf_of": institution.did,
        "signed_at": _iso(contract.signed_at),
    }
    contract.signed_statement = statement
    contract.signature = b64url(signing_key_sign(key=key, message=canonical_json(statement)))
    contract.signer = actor
    contract.signer_did = did
    contract.key_id = key.key_id
    contract.save()
    announcement.save(update_fields=["status"])
    audit_append(
        institution=institution,
        actor=actor,
        action="agents.negotiation.contract_sign",
        target=contract,
        changes={
            "contract": str(contract.uid),
            "digest": contract.digest,
            "signer_did": did,
            "key_id": key.key_id,
            "signature": contract.signature,
        },
    )
    if contract.bid.source == BidSource.ENVELOPE:
        envelope_send(
            sender=institution,
            recipient_did=contract.bid.bidder_did,
            type="agents.contract",
            body={
                "call": str(announcement.uid),
                "agent": contract.bid.agent_did,
                "contract": contract.document,
                "statement": statement,
                "signature": contract.signature,
            },
            actor=actor,
        )
    return contract


def contract_signature_valid(contract: Contract) -> bool:
    """Does the stored signature verify, for this contract, by the key of the did:key it names?"""
    return signed_contract_valid(
        document=contract.document, statement=contract.signed_statement, signature=contract.signature
    )


def signed_contract_valid(*, document: dict, statement: dict, signature: str) -> bool:
    if not isinstance(statement, dict) or statement.get("type") != SIGNATURE_TYPE:
        return False
    if statement.get("contract_digest") != _digest(document) or statement.get("contract") != document.get("contract"):
        return False
    signer = statement.get("signer")
    did = signer.get("did") if isinstance(signer, dict) else None
    if not isinstance(did, str) or not did.startswith("did:key:"):
        return False
    try:
        public_key = multikey_decode(did.removeprefix("did:key:"))
        raw_signature = b64url_decode(signature)
    except (DidResolutionError, ValueError):
        return False
    return did_key_from_public_key(public_key) == did and keys.verify(
        public_key, raw_signature, canonical_json(statement)
    )


@transaction.atomic
def announcement_cancel(*, announcement: Announcement, actor, reason: str) -> Announcement:
    """Withdraw a call (open, or awarded and not yet signed); the invited institutions are told.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition."""
    institution = announcement.institution
    _require_admin(actor=actor, institution=institution)
    reason = str(reason or "").strip()
    if not reason or len(reason) > 2000:
        raise ValidationFailed(errors={"reason": [_("Give the reason (at most 2000 characters); it is recorded.")]})
    announcement = _lock_announcement(announcement)
    previous = announcement.status
    announcement.transition_to(AnnouncementStatus.CANCELLED)
    announcement.status_reason = reason
    announcement.save(update_fields=["status", "status_reason"])
    contract = Contract.all_institutions.filter(announcement=announcement).first()
    if contract is not None and contract.status == ContractStatus.DRAFT:
        contract.transition_to(ContractStatus.VOID)
        contract.save(update_fields=["status"])
    audit_append(
        institution=institution,
        actor=actor,
        action="agents.negotiation.cancel",
        target=announcement,
        changes={"call": str(announcement.uid), "from": previous, "reason": reason},
    )
    for did in announcement.invited:
        envelope_send(
            sender=institution,
            recipient_did=did,
            type="agents.cancel",
            body={"call": str(announcement.uid), "reason": reason},
            actor=actor,
        )
    return announcement


# --- an invited institution -------------------------------------------------------------

CFP_BODY_KEYS = {
    "call",
    "announcer_name",
    "task_type",
    "title",
    "description",
    "specification",
    "weights",
    "currency",
    "max_price",
    "max_hours",
    "bidding_deadline",
}


@transaction.atomic
def received_call_store(*, envelope, recipient: Institution) -> ReceivedCall:
    """An `agents.cfp` envelope: keep the call, tell the administrators, let policy-driven agents bid.

    Raises: EnvelopeRejected (`invalid_body`), ValidationFailed."""
    body = envelope.body
    if not isinstance(body, dict) or set(body) != CFP_BODY_KEYS or _uuid_or_none(body.get("call")) is None:
        raise envelopes.reject("invalid_body", _("A call for proposals has the members of the agents.cfp type."))
    deadline = parse_datetime(str(body["bidding_deadline"]))
    if deadline is None or timezone.is_naive(deadline):
        raise envelopes.reject("invalid_body", _("The call's deadline is not a time with a zone."))
    try:
        weights = scoring.clean_weights(body["weights"])
    except scoring.WeightsError as error:
        raise envelopes.reject("invalid_body", str(error)) from None
    max_price = _decimal(body["max_price"]) if body["max_price"] is not None else None
    max_hours = body["max_hours"]
    currency = body["currency"]
    task_type, title = body["task_type"], body["title"]
    if (
        not isinstance(task_type, str)
        or not TASK_TYPE.match(task_type)
        or not isinstance(title, str)
        or not title.strip()
        or not isinstance(body["description"], str)
        or not isinstance(body["specification"], dict)
        or not isinstance(currency, str)
        or len(currency) != CURRENCY_LENGTH
        or (body["max_price"] is not None and max_price is None)
        or (max_hours is not None and (isinstance(max_hours, bool) or not isinstance(max_hours, int)))
    ):
        raise envelopes.reject("invalid_body", _("The call for proposals has a member of the wrong kind."))
    # tenancy: the recipient's own received calls (the handler runs in its scope)
    existing = ReceivedCall.objects.filter(call_uid=body["call"]).first()
    if existing is not None:
        raise Conflict(_("This call was already received."))
    call = ReceivedCall.objects.create(
        institution=recipient,
        call_uid=body["call"],
        announcer_did=envelope.sender_did,
        announcer_name=(institution_names_by_did({envelope.sender_did}).get(envelope.sender_did) or "")[:200],
        task_type=task_type,
        title=title.strip()[:200],
        description=body["description"][:MAX_DESCRIPTION],
        specification=body["specification"],
        weights=weights,
        currency=currency.upper(),
        max_price=max_price,
        max_hours=max_hours,
        bidding_deadline=deadline,
        envelope_id=envelope.envelope_id,
    )
    audit_append(
        institution=recipient,
        actor=envelope.sender_did,
        action="agents.negotiation.call_receive",
        target=call,
        changes={"call": str(call.call_uid), "announcer": call.announcer_did, "envelope_id": str(envelope.envelope_id)},
    )
    _notify_admins(
        institution=recipient,
        title=_("Call for proposals from %(sender)s: %(title)s")
        % {"sender": call.announcer_name or call.announcer_did, "title": call.title},
        url=_received_url(recipient, call.call_uid),
        actor=envelope.sender_did,
    )
    from apps.agents.negotiation import tasks

    call_id, institution_id = call.pk, recipient.pk
    transaction.on_commit(
        lambda: tasks.received_call_autobid_task.delay(call_id=call_id, institution_id=institution_id), robust=True
    )
    return call


@transaction.atomic
def call_bid_send(
    *, call: ReceivedCall, agent: Agent, price: Any, currency: Any, hours: Any, confidence: Any, actor
) -> SentBid:
    """Bid with one of this institution's agents on another institution's call, by `agents.bid` envelope.

    What the announcer checks again on receipt is checked here first, so the person gets the
    error at once; the announcer's answer (accepted or rejected) shows on the envelope.
    Raises: PermissionDenied, CapabilityMissing, AgentInactive, BiddingClosed, DuplicateBid, ValidationFailed."""
    institution = call.institution
    _require_admin_or_agent(actor=actor, institution=institution, agent=agent)
    if agent.institution_id != institution.pk:
        raise PermissionDenied(_("Only this institution's agents bid on its calls."))
    # tenancy: the caller's own received call, under a lock
    call = ReceivedCall.all_institutions.select_for_update().get(pk=call.pk, institution=institution)
    if call.status != ReceivedCallStatus.OPEN or timezone.now() >= call.bidding_deadline:
        raise BiddingClosed(_("Bidding on this call has closed."))
    _check_agent_may_bid(agent=agent, task_type=call.task_type)
    price, currency, hours, confidence = clean_bid_values(
        price=price,
        currency=currency,
        hours=hours,
        confidence=confidence,
        call_currency=call.currency,
        max_price=call.max_price,
        max_hours=call.max_hours,
    )
    if SentBid.all_institutions.filter(call=call, agent=agent).exists():
        raise DuplicateBid(_("This agent has already bid on this call; a bid cannot be changed."))
    document = bid_document(
        call_uid=call.call_uid,
        announcer_did=call.announcer_did,
        agent_did=agent.did,
        bidder_did=institution.did,
        price=price,
        currency=currency,
        hours=hours,
        confidence=confidence,
    )
    signature = bid_sign(agent=agent, document=document)
    outbox = envelope_send(
        sender=institution,
        recipient_did=call.announcer_did,
        type="agents.bid",
        body={
            "bid": document,
            "signature": signature,
            "agent_name": agent.name,
            "capabilities": list(agent.capabilities or []),
        },
        actor=actor if not isinstance(actor, Agent) else f"agent:{agent.uid}",
    )
    sent = SentBid.objects.create(
        institution=institution,
        call=call,
        agent=agent,
        price=price,
        currency=currency,
        hours=hours,
        confidence=confidence,
        document=document,
        signature=signature,
        envelope_id=outbox.envelope_id,
        submitted_by=_actor_label(actor),
    )
    audit_append(
        institution=institution,
        actor=actor,
        action="agents.negotiation.bid_send",
        target=sent,
        changes={
            "call": str(call.call_uid),
            "bid": document,
            "signature": signature,
            "envelope_id": str(outbox.envelope_id),
        },
    )
    return sent


def _received_call_for(*, envelope, recipient: Institution) -> ReceivedCall:
    body = envelope.body
    # tenancy: the recipient's own received calls (the handler runs in its scope)
    call = (
        ReceivedCall.objects.filter(call_uid=_uuid_or_none(body.get("call"))).first()
        if isinstance(body, dict)
        else None
    )
    if call is None or call.announcer_did != envelope.sender_did:
        raise envelopes.reject("unknown_call", _("This institution received no such call from the sender."), status=404)
    return ReceivedCall.all_institutions.select_for_update().get(pk=call.pk, institution=recipient)


@transaction.atomic
def award_outcome_receive(*, envelope, recipient: Institution, won: bool) -> SentBid:
    """`agents.award` / `agents.reject`: the announcer's decision on one of our agents' bids.

    Raises: EnvelopeRejected."""
    call = _received_call_for(envelope=envelope, recipient=recipient)
    body = envelope.body
    if set(body) != {"call", "agent", "score", "rank", "winning_score", "bids"}:
        raise envelopes.reject("invalid_body", _("An award names the call, the agent, its score and rank."))
    sent = (
        SentBid.all_institutions.filter(institution=recipient, call=call, agent__did=body["agent"])
        .select_related("agent")
        .first()
    )
    if sent is None:
        raise envelopes.reject("unknown_bid", _("No agent of this institution made that bid."), status=404)
    sent.outcome = BidOutcome.WON if won else BidOutcome.LOST
    sent.award = {k: body[k] for k in ("score", "rank", "winning_score", "bids")}
    sent.save(update_fields=["outcome", "award"])
    if won and call.status in (ReceivedCallStatus.OPEN, ReceivedCallStatus.NOT_WON):
        call.transition_to(ReceivedCallStatus.AWARDED)
    elif (
        not won
        and call.status == ReceivedCallStatus.OPEN
        and not call.sent_bids.filter(outcome=BidOutcome.WON).exists()
    ):
        call.transition_to(ReceivedCallStatus.NOT_WON)
    call.save(update_fields=["status"])
    audit_append(
        institution=recipient,
        actor=envelope.sender_did,
        action="agents.negotiation.award_receive" if won else "agents.negotiation.reject_receive",
        target=sent,
        changes={
            "call": str(call.call_uid),
            "agent": sent.agent.did,
            **sent.award,
            "envelope_id": str(envelope.envelope_id),
        },
    )
    if won:
        _notify_admins(
            institution=recipient,
            title=_("%(agent)s won the call “%(title)s”") % {"agent": sent.agent.name, "title": call.title},
            url=_received_url(recipient, call.call_uid),
            actor=envelope.sender_did,
        )
    return sent


@transaction.atomic
def contract_receive(*, envelope, recipient: Institution) -> ReceivedCall:
    """`agents.contract`: the announcer's signed contract for our winning agent; kept if it verifies.

    Raises: EnvelopeRejected."""
    call = _received_call_for(envelope=envelope, recipient=recipient)
    body = envelope.body
    if set(body) != {"call", "agent", "contract", "statement", "signature"} or not isinstance(body["contract"], dict):
        raise envelopes.reject("invalid_body", _("A contract envelope carries the contract and its signature."))
    if not signed_contract_valid(document=body["contract"], statement=body["statement"], signature=body["signature"]):
        raise envelopes.reject("invalid_contract_signature", _("The contract's signature does not verify."), status=403)
    contractor = body["contract"].get("contractor") or {}
    if contractor.get("institution") != recipient.did or body["contract"].get("call") != str(call.call_uid):
        raise envelopes.reject("invalid_body", _("The contract is not for this institution's bid on this call."))
    call.contract = {"contract": body["contract"], "statement": body["statement"], "signature": body["signature"]}
    if call.status == ReceivedCallStatus.AWARDED:
        call.transition_to(ReceivedCallStatus.CONTRACTED)
    call.save(update_fields=["contract", "status"])
    audit_append(
        institution=recipient,
        actor=envelope.sender_did,
        action="agents.negotiation.contract_receive",
        target=call,
        changes={
            "call": str(call.call_uid),
            "contract": body["contract"].get("contract"),
            "signer_did": (body["statement"].get("signer") or {}).get("did"),
            "signature": body["signature"],
        },
    )
    return call


@transaction.atomic
def cancel_receive(*, envelope, recipient: Institution) -> ReceivedCall:
    """`agents.cancel`: the announcer withdrew its call. Raises: EnvelopeRejected."""
    call = _received_call_for(envelope=envelope, recipient=recipient)
    reason = envelope.body.get("reason")
    if set(envelope.body) != {"call", "reason"} or not isinstance(reason, str) or len(reason) > 2000:
        raise envelopes.reject("invalid_body", _("A cancellation names the call and the reason."))
    if call.status in (ReceivedCallStatus.OPEN, ReceivedCallStatus.AWARDED):
        call.transition_to(ReceivedCallStatus.CANCELLED)
        call.save(update_fields=["status"])
    audit_append(
        institution=recipient,
        actor=envelope.sender_did,
        action="agents.negotiation.cancel_receive",
        target=call,
        changes={"call": str(call.call_uid), "reason": reason},
    )
    return call


# --- bidding policies -------------------------------------------------------------------


def bidding_policy(agent: Agent, task_type: str) -> dict[str, Any] | None:
    """The agent's policy for this task type, or None. Shape, in the engine configuration:

        "bidding": {"price": "950.00", "currency": "EUR", "hours": 48, "confidence": 0.8,
                    "task_types": ["services.maintenance"]}   # task_types optional

    `task_types` narrows the agent's capabilities; without it the agent bids on every
    call it has the capability for. The policy is part of the certified configuration:
    changing it makes a new version that must be certified again."""
    policy = (agent.config or {}).get("bidding")
    if not isinstance(policy, dict) or task_type not in (agent.capabilities or []):
        return None
    task_types = policy.get("task_types")
    if task_types is not None and (not isinstance(task_types, list) or task_type not in task_types):
        return None
    return policy


def _autobid(*, agents: list[Agent], task_type: str, bid) -> int:
    placed = 0
    for agent in agents:
        policy = bidding_policy(agent, task_type)
        if policy is None:
            continue
        try:
            with transaction.atomic():
                bid(
                    agent=agent,
                    price=policy.get("price"),
                    currency=policy.get("currency"),
                    hours=policy.get("hours"),
                    confidence=policy.get("confidence"),
                    actor=agent,
                )
            placed += 1
        except ApplicationError:
            # a policy that does not fit this call (currency, ceiling, closed, already bid): no bid
            continue
    return placed


def announcement_autobid(*, announcement: Announcement) -> int:
    """The announcer's own certified agents with a matching policy bid; returns how many did. Idempotent."""
    from apps.agents.selectors import agents_available_for

    if not announcement.bidding_open:
        return 0
    agents = agents_available_for(institution=announcement.institution, task_type=announcement.task_type)
    return _autobid(
        agents=agents,
        task_type=announcement.task_type,
        bid=lambda **kw: bid_submit(announcement=announcement, **kw),
    )


def received_call_autobid(*, call: ReceivedCall) -> int:
    """An invited institution's agents with a matching policy bid by envelope. Idempotent."""
    from apps.agents.selectors import agents_available_for

    if not call.bidding_open:
        return 0
    agents = agents_available_for(institution=call.institution, task_type=call.task_type)
    return _autobid(agents=agents, task_type=call.task_type, bid=lambda **kw: call_bid_send(call=call, **kw))


def announcements_due(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(id, institution id) of open calls whose deadline has passed, across institutions (beat)."""
    # tenancy: the award sweep spans institutions; each award runs in its own scope
    return list(
        Announcement.all_institutions.filter(
            status=AnnouncementStatus.OPEN, bidding_deadline__lte=now or timezone.now()
        ).values_list("pk", "institution_id")
    )

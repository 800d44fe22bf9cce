"""Writes of the federation app: sign and send envelopes, deliver them, receive them.

Same path local or remote (DESIGN, "Cross-cutting rules"): every envelope is signed and
stored in the sender's outbox in the caller's transaction; after commit it is handed to
`envelope_receive`, in-process when the recipient institution lives on this node and
over HTTP (POST /api/v1/federation/inbox) otherwise. A crash between the commit and the
hand-over leaves a pending row that beat sends again; the recipient accepts an envelope
id once, so a second delivery is harmless.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

import requests
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_append
from apps.federation import envelopes
from apps.federation.envelopes import reject
from apps.federation.models import (
    AttemptOutcome,
    DeliveryAttempt,
    DeliveryRoute,
    InboxEnvelope,
    OutboxEnvelope,
    OutboxStatus,
)
from apps.federation.registry import handler_for
from apps.federation.resolver import local_institution_for_did
from apps.federation.selectors import envelope_verify
from apps.identity.did import multikey_encode
from apps.identity.models import KeyOwnerType, KeyStatus, SigningKey
from apps.identity.services import signing_key_create, signing_key_sign
from apps.tenancy.models import Institution, Role
from apps.tenancy.scope import institution_scope
from apps.tenancy.selectors import roles_of
from portal.errors import ApplicationError, PermissionDenied, ValidationFailed

logger = logging.getLogger(__name__)

INBOX_PATH = "/api/v1/federation/inbox"
# Accepted clock difference between sender and recipient, both ways.
TIME_WINDOW = timedelta(minutes=5)
# A pending envelope older than this is signed again with a fresh time before a retry,
# so a peer that was down longer than the window still accepts it (same id: no duplicate).
RESIGN_AFTER = timedelta(minutes=2)
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
# How long after a hand-over (or a retry scheduled by Celery) beat waits before sending
# again: long enough not to race the first try, short enough to recover a lost one.
RESEND_GRACE = timedelta(seconds=60)
HTTP_TIMEOUT = (5, 15)
RETRYABLE_HTTP_STATUSES = {408, 425, 429}
PING_MESSAGE_MAX = 500  # the ping handler checks the same limit on receipt


class DeliveryRetryable(Exception):
    """A delivery failed in a way that may pass later (network, peer 5xx); Celery retries it."""


def backoff_seconds(attempts: int) -> int:
    """Seconds before retry number `attempts` (1-based): 30, 60, 120, ... capped at an hour.

    Celery's `retry_backoff=30` on the delivery task computes the same numbers."""
    return min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))


# --- peers ---------------------------------------------------------------------------


def peer_inbox_url(did: str) -> str:
    """The inbox of the node that hosts a did:web identifier.

    Raises: ValidationFailed when the DID is not a did:web whose host we may contact."""
    parts = did.split(":")
    if len(parts) < 3 or parts[0] != "did" or parts[1] != "web" or not parts[2]:
        raise _recipient_error(_("Only did:web recipients can be reached over the network."))
    host = unquote(parts[2])
    match = _HOST_RE.fullmatch(host)
    if match is None or (match["port"] and not 0 < int(match["port"]) < 65536):
        raise _recipient_error(_("The DID's host is not a valid host name."))
    name = match["name"].strip("[]")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
        if not _HOSTNAME_RE.fullmatch(name):
            raise _recipient_error(_("The DID's host is not a valid host name.")) from None
    if address is not None and (address.is_link_local or address.is_multicast or address.is_unspecified):
        # Link-local covers cloud metadata services: never a peer.
        raise _recipient_error(_("The DID's host is not an address this node contacts."))
    loopback = name == "localhost" or (address is not None and address.is_loopback)
    scheme = "http" if loopback else "https"  # did:web requires HTTPS; loopback is development
    return f"{scheme}://{host}{INBOX_PATH}"


_HOST_RE = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def _recipient_error(message: str) -> ValidationFailed:
    return ValidationFailed(errors={"recipient_did": [message]})


# --- sending -------------------------------------------------------------------------


def _institution_signing_key(*, institution: Institution, actor: Any) -> SigningKey:
    key = SigningKey.objects.filter(
        owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk), status=KeyStatus.ACTIVE
    ).first()
    return key or signing_key_create(
        owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk), actor=actor, institution=institution
    )


def _sign(*, document: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    # The kid is the verification method's id in the sender's DID document (did.py): its Multikey.
    protected_b64 = envelopes.protected_header(kid=f"{document['sender']}#{multikey_encode(bytes(key.public_key))}")
    signed_bytes = envelopes.signing_input(protected_b64=protected_b64, document=document)
    signature = signing_key_sign(key=key, message=signed_bytes)
    return {**document, "signature": f"{protected_b64}..{envelopes.b64url(signature)}"}


def _validate_outgoing(*, sender: Institution, recipient_did: str, type: str, body: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not sender.did:
        errors["sender"] = [_("This institution has no DID yet, so it cannot sign envelopes.")]
    if not isinstance(recipient_did, str) or len(recipient_did) > 300 or not envelopes.DID_RE.match(recipient_did):
        errors["recipient_did"] = [_("Enter a DID, such as did:web:example.org:institutions:aurelia.")]
    if not isinstance(type, str) or len(type) > 100 or not envelopes.TYPE_RE.match(type):
        errors["type"] = [_("The type must be a dotted lower-case name such as federation.ping.")]
    if not isinstance(body, dict):
        errors["body"] = [_("The body must be a JSON object.")]
    return errors


@transaction.atomic
def envelope_send(*, sender: Institution, recipient_did: str, type: str, body: dict, actor: Any) -> OutboxEnvelope:
    """Sign an envelope with the sender's key and put it in the outbox; it leaves after commit.

    Raises: ValidationFailed (recipient, type or body unusable), EnvelopeRejected (too large)."""
    errors = _validate_outgoing(sender=sender, recipient_did=recipient_did, type=type, body=body)
    if errors:
        raise ValidationFailed(errors=errors)
    local = local_institution_for_did(recipient_did) is not None
    if not local:
        peer_inbox_url(recipient_did)  # refuse now what could never be delivered
    key = _institution_signing_key(institution=sender, actor=actor)
    document = envelopes.unsigned_document(
        envelope_id=uuid.uuid4(), type=type, sender=sender.did, recipient=recipient_did, time=timezone.now(), body=body
    )
    document = _sign(document=document, key=key)
    if len(envelopes.serialize(document)) > envelopes.MAX_ENVELOPE_BYTES:
        raise reject("envelope_too_large", _("The envelope is too large to send."), status=413)
    outbox = OutboxEnvelope.objects.create(
        institution=sender,
        envelope_id=uuid.UUID(document["id"]),
        type=type,
        sender_did=sender.did,
        recipient_did=recipient_did,
        route=DeliveryRoute.LOCAL if local else DeliveryRoute.REMOTE,
        document=document,
        body_digest=document["body_digest"],
        next_attempt_at=timezone.now() + RESEND_GRACE,
        created_by=str(getattr(actor, "username", "") or actor or "system")[:150],
    )
    audit_append(
        institution=sender,
        actor=actor,
        action="federation.envelope.send",
        target=outbox,
        changes={
            "envelope_id": document["id"],
            "type": type,
            "recipient": recipient_did,
            "route": outbox.route,
            "body_digest": document["body_digest"],
        },
    )
    envelope_id = str(outbox.envelope_id)
    # robust: a failure to hand over must not turn the committed change into an error; beat resends.
    transaction.on_commit(lambda: _hand_over(envelope_id=envelope_id, route=outbox.route), robust=True)
    return outbox


def _hand_over(*, envelope_id: str, route: str) -> None:
    if route == DeliveryRoute.LOCAL:
        outbox_deliver(envelope_id=envelope_id)
    else:
        from apps.federation.tasks import outbox_deliver_task

        outbox_deliver_task.delay(envelope_id=envelope_id)


@transaction.atomic
def ping_send(*, sender: Institution, recipient_did: str, message: str, actor: Any) -> OutboxEnvelope:
    """An administrator sends a `federation.ping` to another institution (to try the path).

    Raises: PermissionDenied, ValidationFailed."""
    if Role.INSTITUTION_ADMIN not in roles_of(user=actor, institution=sender):
        raise PermissionDenied(_("Only an institution administrator can send a ping."))
    message = (message or "").strip()
    if len(message) > PING_MESSAGE_MAX:
        raise ValidationFailed(
            errors={"message": [_("At most %(max)d characters.") % {"max": PING_MESSAGE_MAX}]},
        )
    return envelope_send(
        sender=sender,
        recipient_did=(recipient_did or "").strip(),
        type="federation.ping",
        body={"message": message},
        actor=actor,
    )


# --- delivering ----------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    outcome: str
    status_code: int | None = None
    detail: str = ""


def _resign_if_stale(outbox: OutboxEnvelope) -> None:
    sent = datetime.fromisoformat(outbox.document["time"].replace("Z", "+00:00"))
    if timezone.now() - sent < RESIGN_AFTER:
        return
    with transaction.atomic():
        locked = OutboxEnvelope.all_institutions.select_for_update().get(pk=outbox.pk)  # tenancy: by id, in scope
        document = {k: v for k, v in locked.document.items() if k != "signature"}
        document["time"] = envelopes.format_time(timezone.now())
        key = _institution_signing_key(institution=locked.institution, actor="federation.outbox")
        locked.document = _sign(document=document, key=key)
        locked.save(update_fields=["document"])
    outbox.document = locked.document


def _attempt_local(outbox: OutboxEnvelope) -> AttemptResult:
    try:
        result = envelope_receive(raw=envelopes.serialize(outbox.document))
    except ApplicationError as exc:
        return AttemptResult(AttemptOutcome.REJECTED, exc.status, f"{exc.code}: {exc.message}")
    except Exception as exc:  # a handler's bug: retried, like a peer's 500
        logger.exception("local delivery of envelope %s failed", outbox.envelope_id)
        return AttemptResult(AttemptOutcome.ERROR, None, f"{type(exc).__name__}: {exc}"[:1000])
    outcome = AttemptOutcome.DELIVERED if result.created else AttemptOutcome.ALREADY_ACCEPTED
    return AttemptResult(outcome, 202 if result.created else 200)


def _attempt_remote(outbox: OutboxEnvelope) -> AttemptResult:
    try:
        url = peer_inbox_url(outbox.recipient_did)
    except ValidationFailed as exc:
        return AttemptResult(AttemptOutcome.REJECTED, None, exc.message)
    try:
        response = requests.post(
            url,
            data=envelopes.serialize(outbox.document),
            headers={"Content-Type": "application/json", "Accept": "application/json, application/problem+json"},
            timeout=HTTP_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return AttemptResult(AttemptOutcome.ERROR, None, f"{type(exc).__name__}: {exc}"[:1000])
    detail = _response_detail(response) or f"HTTP {response.status_code}"
    if 200 <= response.status_code < 300:
        already = response.status_code == 200 and "already_accepted" in detail
        outcome = AttemptOutcome.ALREADY_ACCEPTED if already else AttemptOutcome.DELIVERED
        return AttemptResult(outcome, response.status_code, detail)
    if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_HTTP_STATUSES:
        return AttemptResult(AttemptOutcome.REJECTED, response.status_code, detail)
    return AttemptResult(AttemptOutcome.ERROR, response.status_code, detail)


def _response_detail(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(data, dict):
        return f"{data.get('code') or data.get('status', '')}: {data.get('detail', '')}".strip(": ")[:500]
    return str(data)[:500]


def outbox_deliver(*, envelope_id: str) -> tuple[OutboxEnvelope, bool]:
    """Try once to hand a pending envelope to its recipient; returns (envelope, retry later?).

    Idempotent: a delivered or failed envelope is left alone. Not atomic as a whole on
    purpose: the hand-over (an HTTP call, or the recipient's own transaction) must not
    hold the outbox row's lock; the attempt is recorded in a transaction of its own.
    Raises: OutboxEnvelope.DoesNotExist."""
    # tenancy: delivery runs by envelope id from tasks and beat, then enters the sender's scope.
    outbox = OutboxEnvelope.all_institutions.select_related("institution").get(envelope_id=envelope_id)
    if outbox.status != OutboxStatus.PENDING:
        return outbox, False
    with institution_scope(outbox.institution):
        _resign_if_stale(outbox)
        attempt = _attempt_local if outbox.route == DeliveryRoute.LOCAL else _attempt_remote
        result = attempt(outbox)
        return _attempt_record(outbox=outbox, result=result)


@transaction.atomic
def _attempt_record(*, outbox: OutboxEnvelope, result: AttemptResult) -> tuple[OutboxEnvelope, bool]:
    outbox = OutboxEnvelope.objects.select_for_update().get(pk=outbox.pk)
    if outbox.status != OutboxStatus.PENDING:  # another deliverer finished first
        return outbox, False
    outbox.attempts += 1
    DeliveryAttempt.objects.create(
        institution=outbox.institution,
        envelope=outbox,
        number=outbox.attempts,
        outcome=result.outcome,
        status_code=result.status_code,
        detail=result.detail,
    )
    now = timezone.now()
    retry = False
    if result.outcome in (AttemptOutcome.DELIVERED, AttemptOutcome.ALREADY_ACCEPTED):
        outbox.transition_to(OutboxStatus.DELIVERED)
        outbox.delivered_at = now
        outbox.last_error = ""
        action = "federation.envelope.deliver"
    elif result.outcome == AttemptOutcome.REJECTED or outbox.attempts >= MAX_ATTEMPTS:
        outbox.transition_to(OutboxStatus.FAILED)
        outbox.last_error = result.detail
        action = "federation.envelope.fail"
    else:
        outbox.last_error = result.detail
        outbox.next_attempt_at = now + timedelta(seconds=backoff_seconds(outbox.attempts)) + RESEND_GRACE
        retry = True
        action = ""
    outbox.save()
    if action:  # transient errors are recorded as attempts only; the log gets the outcome
        audit_append(
            institution=outbox.institution,
            actor="federation.outbox",
            action=action,
            target=outbox,
            changes={
                "envelope_id": str(outbox.envelope_id),
                "attempts": outbox.attempts,
                "outcome": result.outcome,
                "detail": result.detail[:500],
            },
        )
    return outbox, retry


def outbox_resend_pending(*, limit: int = 500) -> int:
    """Hand over again every pending envelope whose next attempt is due (beat); returns how many.

    Each is claimed (its next attempt pushed back) before it is handed over, so a slow
    delivery is not sent again by the next beat."""
    from apps.federation.tasks import outbox_deliver_task

    now = timezone.now()
    with transaction.atomic():
        # tenancy: the node's outbox spans institutions.
        due = list(
            OutboxEnvelope.all_institutions.select_for_update(skip_locked=True)
            .filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", "envelope_id")[:limit]
        )
        OutboxEnvelope.all_institutions.filter(pk__in=[pk for pk, _ in due]).update(next_attempt_at=now + RESEND_GRACE)
    for _pk, envelope_id in due:
        transaction.on_commit(lambda eid=str(envelope_id): outbox_deliver_task.delay(envelope_id=eid), robust=True)
    return len(due)


# --- receiving -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiveResult:
    envelope: InboxEnvelope
    created: bool


def envelope_receive(*, raw: bytes) -> ReceiveResult:
    """Verify an envelope and accept it once into the recipient's inbox, then run its handler.

    The one receive path: the public inbox endpoint and in-process delivery both call it.
    A second delivery of an accepted envelope returns it with `created=False`.
    Every rejection is audited with its reason and changes nothing else.
    Raises: EnvelopeRejected (and the ApplicationError a handler raises)."""
    parsed: envelopes.ParsedEnvelope | None = None
    recipient: Institution | None = None
    try:
        parsed = envelopes.parse(raw)
        recipient = local_institution_for_did(parsed.recipient)
        if recipient is None:
            raise reject("unknown_recipient", _("No institution on this node has the recipient's DID."), status=404)
        verification = envelope_verify(parsed)
        if not verification.valid:
            raise reject(verification.code, verification.message, status=403)
        # tenancy: the inbox endpoint is public; the recipient comes from the verified envelope.
        existing = InboxEnvelope.all_institutions.filter(institution=recipient, envelope_id=parsed.envelope_id).first()
        if existing is not None:
            return ReceiveResult(existing, created=False)
        skew = abs(timezone.now() - parsed.time)
        if skew > TIME_WINDOW:
            raise reject(
                "envelope_time_outside_window",
                _(
                    "The envelope's time is %(seconds)d seconds away from this node's clock; "
                    "at most %(max)d are accepted."
                )
                % {"seconds": int(skew.total_seconds()), "max": int(TIME_WINDOW.total_seconds())},
            )
        handler = handler_for(parsed.type)
        if handler is None:
            raise reject("unsupported_type", _("This node has no handler for envelopes of type %s.") % parsed.type)
        return _accept(parsed=parsed, recipient=recipient, handler=handler)
    except ApplicationError as exc:
        _audit_rejection(raw=raw, parsed=parsed, recipient=recipient, error=exc)
        raise


def envelope_refuse_oversized(*, declared_length: str) -> None:
    """Turn away a delivery whose declared length is over the limit (or unreadable), audited.

    Raises: EnvelopeRejected, always."""
    error = reject(
        "envelope_too_large",
        _("An envelope may have at most %(limit)d bytes.") % {"limit": envelopes.MAX_ENVELOPE_BYTES},
        status=413,
    )
    with transaction.atomic():
        audit_append(
            institution=None,
            actor="federation.inbox",
            action="federation.envelope.reject",
            target_type="federation.envelope",
            changes={"reason": error.code, "detail": error.message, "declared_length": declared_length[:20]},
        )
    raise error


def _accept(*, parsed: envelopes.ParsedEnvelope, recipient: Institution, handler) -> ReceiveResult:
    with institution_scope(recipient), transaction.atomic():
        try:
            with transaction.atomic():
                inbox = InboxEnvelope.objects.create(
                    institution=recipient,
                    envelope_id=parsed.envelope_id,
                    type=parsed.type,
                    sender_did=parsed.sender,
                    recipient_did=parsed.recipient,
                    key_id=parsed.kid,
                    sent_at=parsed.time,
                    document=parsed.document,
                    body_digest=parsed.body_digest,
                )
        except IntegrityError:  # a concurrent delivery of the same envelope won
            existing = InboxEnvelope.objects.get(institution=recipient, envelope_id=parsed.envelope_id)
            return ReceiveResult(existing, created=False)
        audit_append(
            institution=recipient,
            actor=parsed.sender,
            action="federation.envelope.receive",
            target=inbox,
            changes={
                "envelope_id": str(parsed.envelope_id),
                "type": parsed.type,
                "sender": parsed.sender,
                "key": parsed.kid,
                "body_digest": parsed.body_digest,
            },
        )
        handler(envelope=inbox, recipient=recipient)
    return ReceiveResult(inbox, created=True)


def _audit_rejection(
    *, raw: bytes, parsed: envelopes.ParsedEnvelope | None, recipient: Institution | None, error: ApplicationError
) -> None:
    """Record why an envelope was turned away; the claims in it are unverified, so labelled as such."""
    changes: dict[str, Any] = {"reason": error.code, "detail": error.message[:500], "size": len(raw)}
    if parsed is not None:
        changes.update(
            envelope_id=str(parsed.envelope_id),
            type=parsed.type,
            claimed_sender=parsed.sender[:300],
            recipient=parsed.recipient[:300],
            time=parsed.document["time"],
        )
    with transaction.atomic():
        audit_append(
            institution=recipient,
            actor="federation.inbox",
            action="federation.envelope.reject",
            target_type="federation.envelope",
            target_id=str(parsed.envelope_id) if parsed is not None else "",
            changes=changes,
        )

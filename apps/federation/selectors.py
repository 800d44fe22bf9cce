"""Reads of the federation app: an institution's outbox and inbox, and checking a signature."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from apps.federation import envelopes
from apps.federation.envelopes import EnvelopeRejected
from apps.federation.models import DeliveryAttempt, InboxEnvelope, OutboxEnvelope
from apps.federation.resolver import resolve_verification_key
from apps.identity import keys
from apps.tenancy.models import Institution


@dataclass(frozen=True)
class Verification:
    """The outcome of checking an envelope's signature and body digest against the sender's key."""

    valid: bool
    code: str
    message: str
    key_id: str = ""


def envelope_verify(parsed: envelopes.ParsedEnvelope) -> Verification:
    """Resolve the sender's key from its DID document, check it was not retired before the envelope's
    time, then check the signature and the body digest."""
    key = resolve_verification_key(parsed.sender, parsed.key_id)
    if key is None:
        return Verification(False, "unknown_sender", _("The sender's DID or key cannot be resolved."), parsed.kid)
    if not key.valid_at(parsed.time):
        # The envelope says it was signed after the sender retired this key: a stolen retired key cannot sign.
        return Verification(
            False, "key_revoked", _("The signing key was retired before this envelope was signed."), parsed.kid
        )
    signed = envelopes.signing_input(protected_b64=parsed.protected_b64, document=parsed.document)
    if not keys.verify(key.public_key, parsed.signature, signed):
        return Verification(False, "invalid_signature", _("The signature does not match the envelope."), parsed.kid)
    try:
        digest = envelopes.body_digest(parsed.body)
    except EnvelopeRejected:
        digest = ""
    if not hmac.compare_digest(digest, parsed.body_digest):
        return Verification(False, "body_digest_mismatch", _("The body does not match its signed digest."), parsed.kid)
    return Verification(True, "valid", _("Signature and body digest are valid."), parsed.kid)


def envelope_document_verify(*, document: dict) -> Verification:
    """Check a stored envelope again, now (for the detail pages)."""
    try:
        parsed = envelopes.parse(envelopes.serialize(document))
    except EnvelopeRejected as exc:
        return Verification(False, exc.code, exc.message)
    return envelope_verify(parsed)


def outbox_for(*, institution: Institution) -> QuerySet[OutboxEnvelope]:
    return OutboxEnvelope.objects.filter(institution=institution).order_by("-created_at", "-id")


def outbox_get(*, institution: Institution, envelope_id: uuid.UUID) -> OutboxEnvelope:
    """Raises: Http404 unless this institution sent it."""
    # tenancy: the attempts are read through the envelope, which the scoped manager already checked.
    envelope = (
        OutboxEnvelope.objects.filter(institution=institution, envelope_id=envelope_id)
        .prefetch_related(Prefetch("delivery_attempts", queryset=DeliveryAttempt.all_institutions.order_by("number")))
        .first()
    )
    if envelope is None:
        raise Http404
    return envelope


def inbox_for(*, institution: Institution) -> QuerySet[InboxEnvelope]:
    return InboxEnvelope.objects.filter(institution=institution).order_by("-received_at", "-id")


def inbox_get(*, institution: Institution, envelope_id: uuid.UUID) -> InboxEnvelope:
    """Raises: Http404 unless this institution accepted it."""
    envelope = InboxEnvelope.objects.filter(institution=institution, envelope_id=envelope_id).first()
    if envelope is None:
        raise Http404
    return envelope


def institution_names_by_did(dids: set[str]) -> dict[str, str]:
    """Names of the institutions on this node among these DIDs, to label envelopes (DIDs are public)."""
    if not dids:
        return {}
    return dict(Institution.objects.filter(did__in=dids).values_list("did", "name"))

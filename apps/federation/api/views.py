"""Federation over the API: the public inbox peers deliver to, and an institution's envelopes.

`POST /api/v1/federation/inbox` takes one envelope (see `apps/federation/envelopes.py`
for the format). It needs no account: the envelope's signature, checked against the
sender DID's key, is the authentication. Answers: 202 accepted, 200 already accepted
(the same envelope id again; nothing is stored twice), or a problem+json rejection whose
`code` says why (`malformed_envelope`, `envelope_too_large`, `unknown_recipient`,
`unknown_sender`, `invalid_signature`, `body_digest_mismatch`,
`envelope_time_outside_window`, `unsupported_type`, `invalid_body`).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from apps.federation import selectors, services
from apps.federation.envelopes import MAX_ENVELOPE_BYTES
from apps.federation.permissions import ENVELOPE_READERS
from portal.api import InstitutionScopedAPIView, Pagination, created


class FederationInboxThrottle(SimpleRateThrottle):
    """Per client address; the rate is `CIVITAS_FEDERATION_INBOX_RATE`."""

    scope = "federation_inbox"

    def get_rate(self) -> str:
        return settings.CIVITAS_FEDERATION_INBOX_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class EnvelopeInput(serializers.Serializer):
    """The signed envelope, as documented in apps/federation/envelopes.py (for the schema only)."""

    v = serializers.IntegerField()
    id = serializers.UUIDField()
    type = serializers.CharField()
    sender = serializers.CharField()
    recipient = serializers.CharField()
    time = serializers.CharField()
    body_digest = serializers.CharField()
    body = serializers.DictField()
    signature = serializers.CharField()


class InboxReceiptOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["accepted", "already_accepted"])
    envelope_id = serializers.UUIDField()


class FederationInboxApi(APIView):
    authentication_classes: list = []  # the envelope's signature is the authentication
    permission_classes = [AllowAny]
    throttle_classes = [FederationInboxThrottle]
    parser_classes = [JSONParser]  # declared for the schema; the raw bytes are what is verified

    @extend_schema(
        request=EnvelopeInput,
        responses={
            202: InboxReceiptOutput,
            200: InboxReceiptOutput,
            400: OpenApiResponse(description="Malformed, outside the time window, or an unsupported type."),
            403: OpenApiResponse(description="Unknown sender key, invalid signature or body digest."),
            404: OpenApiResponse(description="The recipient is not an institution of this node."),
            413: OpenApiResponse(description="Larger than the envelope size limit."),
        },
        auth=[],
    )
    def post(self, request):
        """Deliver a signed envelope to an institution of this node."""
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > MAX_ENVELOPE_BYTES:
            services.envelope_refuse_oversized(declared_length=length)  # before reading the body
        result = services.envelope_receive(raw=request.body)
        answer = "accepted" if result.created else "already_accepted"
        return Response(
            InboxReceiptOutput({"status": answer, "envelope_id": result.envelope.envelope_id}).data,
            status=status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK,
        )


class DeliveryAttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    outcome = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField()
    attempted_at = serializers.DateTimeField()


class VerificationOutput(serializers.Serializer):
    valid = serializers.BooleanField()
    code = serializers.CharField()
    message = serializers.CharField()
    key_id = serializers.CharField()


class OutboxEnvelopeOutput(serializers.Serializer):
    envelope_id = serializers.UUIDField()
    type = serializers.CharField()
    sender_did = serializers.CharField()
    recipient_did = serializers.CharField()
    route = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    last_error = serializers.CharField()
    body_digest = serializers.CharField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


class OutboxEnvelopeDetailOutput(OutboxEnvelopeOutput):
    document = serializers.JSONField(help_text="The signed envelope exactly as sent.")
    verification = VerificationOutput()
    delivery_attempts = DeliveryAttemptOutput(many=True)


class InboxEnvelopeOutput(serializers.Serializer):
    envelope_id = serializers.UUIDField()
    type = serializers.CharField()
    sender_did = serializers.CharField()
    recipient_did = serializers.CharField()
    key_id = serializers.CharField()
    sent_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    body_digest = serializers.CharField()


class InboxEnvelopeDetailOutput(InboxEnvelopeOutput):
    document = serializers.JSONField(help_text="The signed envelope exactly as received.")
    verification = VerificationOutput()


class PingInput(serializers.Serializer):
    recipient_did = serializers.CharField(max_length=300)
    message = serializers.CharField(max_length=services.PING_MESSAGE_MAX, allow_blank=True, required=False, default="")


class OutboxListApi(InstitutionScopedAPIView):
    required_roles = ENVELOPE_READERS

    @extend_schema(responses=OutboxEnvelopeOutput(many=True))
    def get(self, request, institution_slug):
        """Envelopes this institution sent, newest first (administrators and auditors)."""
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.outbox_for(institution=request.institution), request, view=self)
        return paginator.get_paginated_response(OutboxEnvelopeOutput(page, many=True).data)

    @extend_schema(request=PingInput, responses={201: OutboxEnvelopeOutput})
    def post(self, request, institution_slug):
        """Send a `federation.ping` to another institution's DID (administrators)."""
        data = PingInput(data=request.data)
        data.is_valid(raise_exception=True)
        envelope = services.ping_send(sender=request.institution, actor=request.user, **data.validated_data)
        return created(OutboxEnvelopeOutput(envelope).data)


class OutboxDetailApi(InstitutionScopedAPIView):
    required_roles = ENVELOPE_READERS

    @extend_schema(responses=OutboxEnvelopeDetailOutput)
    def get(self, request, institution_slug, outbox_envelope_id):
        """One sent envelope: the signed JSON, its signature checked now, and every delivery attempt."""
        envelope = selectors.outbox_get(institution=request.institution, envelope_id=outbox_envelope_id)
        envelope.verification = selectors.envelope_document_verify(document=envelope.document)
        return Response(OutboxEnvelopeDetailOutput(envelope).data)


class InboxListApi(InstitutionScopedAPIView):
    required_roles = ENVELOPE_READERS

    @extend_schema(responses=InboxEnvelopeOutput(many=True))
    def get(self, request, institution_slug):
        """Envelopes this institution accepted, newest first (administrators and auditors)."""
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.inbox_for(institution=request.institution), request, view=self)
        return paginator.get_paginated_response(InboxEnvelopeOutput(page, many=True).data)


class InboxDetailApi(InstitutionScopedAPIView):
    required_roles = ENVELOPE_READERS

    @extend_schema(responses=InboxEnvelopeDetailOutput)
    def get(self, request, institution_slug, inbox_envelope_id):
        """One accepted envelope: the signed JSON and its signature checked again now."""
        envelope = selectors.inbox_get(institution=request.institution, envelope_id=inbox_envelope_id)
        envelope.verification = selectors.envelope_document_verify(document=envelope.document)
        return Response(InboxEnvelopeDetailOutput(envelope).data)

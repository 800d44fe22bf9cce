"""The contract net over the API, under /api/v1/institutions/<slug>/agents/negotiations/."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from apps.agents import selectors as agent_selectors
from apps.agents.api.views import _parse
from apps.agents.negotiation import selectors, services
from apps.tenancy.models import Role
from portal.api import InstitutionScopedAPIView, Pagination, created

ADMINS = frozenset({Role.INSTITUTION_ADMIN})
# calls, bids and contracts are procurement records: the institution's staff and auditors read them
READERS = frozenset({Role.INSTITUTION_ADMIN, Role.CIVIL_SERVANT, Role.AUDITOR})


class WeightsField(serializers.Serializer):
    price = serializers.FloatField(min_value=0)
    time = serializers.FloatField(min_value=0)
    confidence = serializers.FloatField(min_value=0)


class AnnouncementInput(serializers.Serializer):
    task_type = serializers.CharField(max_length=80)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=services.MAX_DESCRIPTION, allow_blank=True, default="")
    specification = serializers.JSONField(default=dict)
    weights = WeightsField()
    currency = serializers.CharField(max_length=3, min_length=3)
    max_price = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, allow_null=True)
    max_hours = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    bidding_deadline = serializers.DateTimeField()
    invited = serializers.ListField(
        child=serializers.CharField(max_length=300), max_length=services.MAX_INVITED, default=list
    )


class BidInput(serializers.Serializer):
    agent = serializers.UUIDField(help_text="The uid of one of this institution's certified agents.")
    price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    currency = serializers.CharField(max_length=3, min_length=3)
    hours = serializers.IntegerField(min_value=1, help_text="Time to complete the task, in hours.")
    confidence = serializers.DecimalField(max_digits=4, decimal_places=3, min_value=0, max_value=1)


class CancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class SignInput(serializers.Serializer):
    confirm = serializers.BooleanField(help_text="True: I have read the contract and sign it.")


class BidOutput(serializers.Serializer):
    source = serializers.CharField()
    agent = serializers.SerializerMethodField()
    agent_did = serializers.CharField()
    agent_name = serializers.CharField()
    bidder_did = serializers.CharField()
    bidder_name = serializers.CharField()
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    hours = serializers.IntegerField()
    confidence = serializers.DecimalField(max_digits=4, decimal_places=3)
    document = serializers.JSONField()
    signature = serializers.CharField()
    envelope_id = serializers.UUIDField(allow_null=True)
    outcome = serializers.CharField()
    reputation_weight = serializers.FloatField(allow_null=True)
    criteria_score = serializers.FloatField(allow_null=True)
    score = serializers.FloatField(allow_null=True)
    rank = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_agent(self, bid) -> str | None:
        return str(bid.agent.uid) if bid.agent_id else None


class AnnouncementOutput(serializers.Serializer):
    uid = serializers.UUIDField()
    task_type = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    specification = serializers.JSONField()
    weights = serializers.DictField(child=serializers.FloatField())
    currency = serializers.CharField()
    max_price = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    max_hours = serializers.IntegerField(allow_null=True)
    bidding_deadline = serializers.DateTimeField()
    invited = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    status_reason = serializers.CharField()
    awarded_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class AnnouncementDetailOutput(AnnouncementOutput):
    award_reasoning = serializers.JSONField()
    bids = serializers.SerializerMethodField()

    def get_bids(self, announcement) -> list:
        bids = selectors.bids_of(institution=announcement.institution, announcement=announcement)
        return BidOutput(bids, many=True).data


class ContractOutput(serializers.Serializer):
    uid = serializers.UUIDField()
    status = serializers.CharField()
    document = serializers.JSONField()
    digest = serializers.CharField()
    signer = serializers.SerializerMethodField()
    signer_did = serializers.CharField()
    key_id = serializers.CharField()
    signed_statement = serializers.JSONField()
    signature = serializers.CharField()
    signed_at = serializers.DateTimeField(allow_null=True)
    signature_valid = serializers.SerializerMethodField()

    def get_signer(self, contract) -> str | None:
        return contract.signer.get_username() if contract.signer_id else None

    def get_signature_valid(self, contract) -> bool | None:
        return services.contract_signature_valid(contract) if contract.signature else None


class SentBidOutput(serializers.Serializer):
    agent = serializers.UUIDField(source="agent.uid")
    agent_name = serializers.CharField(source="agent.name")
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    hours = serializers.IntegerField()
    confidence = serializers.DecimalField(max_digits=4, decimal_places=3)
    signature = serializers.CharField()
    envelope_id = serializers.UUIDField()
    delivery = serializers.SerializerMethodField()
    outcome = serializers.CharField()
    award = serializers.JSONField()
    created_at = serializers.DateTimeField()

    def get_delivery(self, sent) -> dict:
        """The envelope's state: pending, delivered, or failed with the announcer's reason."""
        return selectors.sent_bid_delivery(institution=sent.institution, sent=sent)


class ReceivedCallOutput(serializers.Serializer):
    call_uid = serializers.UUIDField()
    announcer_did = serializers.CharField()
    announcer_name = serializers.CharField()
    task_type = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    specification = serializers.JSONField()
    weights = serializers.DictField(child=serializers.FloatField())
    currency = serializers.CharField()
    max_price = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    max_hours = serializers.IntegerField(allow_null=True)
    bidding_deadline = serializers.DateTimeField()
    status = serializers.CharField()
    received_at = serializers.DateTimeField()


class ReceivedCallDetailOutput(ReceivedCallOutput):
    contract = serializers.JSONField()
    sent_bids = serializers.SerializerMethodField()

    def get_sent_bids(self, call) -> list:
        return SentBidOutput(selectors.sent_bids_of(institution=call.institution, call=call), many=True).data


def _require_admin(request) -> None:
    if not request.institution_roles & ADMINS:
        raise exceptions.PermissionDenied(_("Only an institution administrator can announce a task."))


def _announcement(request, announcement_uid):
    return selectors.announcement_get(institution=request.institution, announcement_uid=announcement_uid)


def _bid_fields(request, data) -> dict:
    agent = agent_selectors.agent_get(institution=request.institution, agent_uid=data.pop("agent"))
    return {"agent": agent, **data, "actor": request.user}


class AnnouncementListApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(responses=AnnouncementOutput(many=True))
    def get(self, request, institution_slug):
        """The institution's calls for proposals, newest first."""
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.announcements_of(institution=request.institution), request, view=self
        )
        return paginator.get_paginated_response(AnnouncementOutput(page, many=True).data)

    @extend_schema(request=AnnouncementInput, responses={201: AnnouncementDetailOutput})
    def post(self, request, institution_slug):
        """Announce a task (administrators); invited institutions get it as a signed envelope."""
        _require_admin(request)
        data = _parse(AnnouncementInput, request)
        data["weights"] = dict(data["weights"])
        announcement = services.announcement_create(institution=request.institution, actor=request.user, **data)
        return created(AnnouncementDetailOutput(announcement).data)


class AnnouncementDetailApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(responses=AnnouncementDetailOutput)
    def get(self, request, institution_slug, announcement_uid):
        """A call with its bids (scores, ranks and the winner once awarded) and the award's reasoning."""
        return Response(AnnouncementDetailOutput(_announcement(request, announcement_uid)).data)


class AnnouncementBidApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(request=BidInput, responses={201: BidOutput})
    def post(self, request, institution_slug, announcement_uid):
        """Bid on the call on behalf of one of this institution's agents; the agent's key signs it."""
        announcement = _announcement(request, announcement_uid)
        fields = _bid_fields(request, _parse(BidInput, request))
        return created(BidOutput(services.bid_submit(announcement=announcement, **fields)).data)


class AnnouncementAwardApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(request=None, responses=AnnouncementDetailOutput)
    def post(self, request, institution_slug, announcement_uid):
        """Award the call once bidding has closed: the best reputation-weighted score wins."""
        announcement = services.announcement_award(
            announcement=_announcement(request, announcement_uid), actor=request.user
        )
        return Response(AnnouncementDetailOutput(announcement).data)


class AnnouncementCancelApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(request=CancelInput, responses=AnnouncementDetailOutput)
    def post(self, request, institution_slug, announcement_uid):
        """Withdraw a call that is open, or awarded and not yet signed; invited institutions are told."""
        announcement = _announcement(request, announcement_uid)
        data = _parse(CancelInput, request)
        announcement = services.announcement_cancel(announcement=announcement, actor=request.user, **data)
        return Response(AnnouncementDetailOutput(announcement).data)


def _contract(request, announcement_uid):
    from django.http import Http404

    announcement = _announcement(request, announcement_uid)
    contract = selectors.contract_of(institution=request.institution, announcement=announcement)
    if contract is None:
        raise Http404
    return contract


class ContractApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(responses=ContractOutput)
    def get(self, request, institution_slug, announcement_uid):
        """The contract of an awarded call: the draft, or the signed contract and whether it verifies."""
        return Response(ContractOutput(_contract(request, announcement_uid)).data)


class ContractSignApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(request=SignInput, responses=ContractOutput)
    def post(self, request, institution_slug, announcement_uid):
        """Sign the contract with your own key (administrators, with two-factor authentication)."""
        contract = _contract(request, announcement_uid)
        data = _parse(SignInput, request)
        return Response(ContractOutput(services.contract_sign(contract=contract, actor=request.user, **data)).data)


class ReceivedCallListApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(responses=ReceivedCallOutput(many=True))
    def get(self, request, institution_slug):
        """Calls for proposals other institutions invited this one to."""
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.received_calls_of(institution=request.institution), request, view=self
        )
        return paginator.get_paginated_response(ReceivedCallOutput(page, many=True).data)


class ReceivedCallDetailApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(responses=ReceivedCallDetailOutput)
    def get(self, request, institution_slug, call_uid):
        """A received call, the bids this institution's agents sent, and their outcome."""
        call = selectors.received_call_get(institution=request.institution, call_uid=call_uid)
        return Response(ReceivedCallDetailOutput(call).data)


class ReceivedCallBidApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(request=BidInput, responses={201: SentBidOutput})
    def post(self, request, institution_slug, call_uid):
        """Bid on another institution's call with one of this institution's agents (sent by envelope)."""
        call = selectors.received_call_get(institution=request.institution, call_uid=call_uid)
        fields = _bid_fields(request, _parse(BidInput, request))
        return created(SentBidOutput(services.call_bid_send(call=call, **fields)).data)

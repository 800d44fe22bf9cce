"""Threshold policies and proposals over the API; the independent verifier."""

from __future__ import annotations

from django.db.models import Count
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.tenancy.models import Role
from apps.trust import document as doc
from apps.trust import selectors, services
from apps.trust.models import ActType, ProposalStatus
from portal.api import ANY_MEMBER, InstitutionScopedAPIView, Pagination, created

READERS = frozenset({Role.INSTITUTION_ADMIN, Role.AUDITOR})
ADMINS = frozenset({Role.INSTITUTION_ADMIN})


class InstitutionRefOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    did = serializers.CharField()


class PolicyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    act_type = serializers.CharField()
    k = serializers.IntegerField()
    n = serializers.SerializerMethodField()
    authorities = InstitutionRefOutput(many=True, source="authorities.all")

    def get_n(self, policy) -> int:
        return len(policy.authorities.all())


class ProposalSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    uid = serializers.UUIDField()
    act_type = serializers.CharField()
    status = serializers.CharField()
    proposer = InstitutionRefOutput(source="institution")
    digest = serializers.CharField()
    k = serializers.IntegerField()
    signatures = serializers.IntegerField(source="signature_count")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class SignatureOutput(serializers.Serializer):
    authority = InstitutionRefOutput()
    key_id = serializers.CharField()
    signature = serializers.CharField(help_text="base64 Ed25519 signature of signing_context + canonical")
    signed_by = serializers.CharField(source="signed_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    counted = serializers.BooleanField()
    reason = serializers.CharField()


class AuthorityOutput(serializers.Serializer):
    institution = InstitutionRefOutput()
    signed = serializers.BooleanField()


class ProposalDetailOutput(serializers.Serializer):
    id = serializers.IntegerField(source="proposal.id")
    uid = serializers.UUIDField(source="proposal.uid")
    act_type = serializers.CharField(source="proposal.act_type")
    status = serializers.CharField(source="proposal.status")
    proposer = InstitutionRefOutput(source="proposal.institution")
    payload = serializers.JSONField(source="proposal.payload")
    canonical = serializers.CharField(source="proposal.canonical")
    digest = serializers.CharField(source="proposal.digest")
    signing_context = serializers.CharField()
    k = serializers.IntegerField(source="proposal.k")
    valid_signatures = serializers.IntegerField()
    authorities = AuthorityOutput(many=True)
    signatures = SignatureOutput(many=True)
    created_at = serializers.DateTimeField(source="proposal.created_at")
    expires_at = serializers.DateTimeField(source="proposal.expires_at")
    decided_at = serializers.DateTimeField(source="proposal.decided_at", allow_null=True)
    reason = serializers.CharField(source="proposal.reason")
    effect_result = serializers.JSONField(source="proposal.effect_result")
    can_sign = serializers.BooleanField()
    can_withdraw = serializers.BooleanField()


class ProposalFilterInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=ProposalStatus.choices, required=False, default="")


class ProposalCreateInput(serializers.Serializer):
    act_type = serializers.ChoiceField(choices=ActType.choices)
    payload = serializers.JSONField(help_text="the act's data; for admit_institution: name, slug, kind")
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=services.MAX_PROPOSAL_DAYS, default=services.DEFAULT_PROPOSAL_DAYS
    )


class ProposalWithdrawInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


def _require_admin(request) -> None:
    """For a write on a route whose reads are open to more roles."""
    if not request.institution_roles & ADMINS:
        raise exceptions.PermissionDenied(_("Your role in this institution does not allow this."))


def _detail(request, proposal) -> dict:
    return ProposalDetailOutput(selectors.proposal_detail(proposal=proposal, institution=request.institution)).data


class PolicyListApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(responses=PolicyOutput(many=True))
    def get(self, request, institution_slug):
        """The federation's threshold policies: per act type, its authorities and k."""
        return Response(PolicyOutput(selectors.policies_list(), many=True).data)


class ProposalListApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(parameters=[ProposalFilterInput], responses=ProposalSummaryOutput(many=True))
    def get(self, request, institution_slug):
        """Proposals this institution made or must sign as an authority, newest first."""
        params = ProposalFilterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = selectors.proposals_visible_to(
            institution=request.institution, status=params.validated_data["status"]
        ).annotate(signature_count=Count("signatures", distinct=True))
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ProposalSummaryOutput(page, many=True).data)

    @extend_schema(request=ProposalCreateInput, responses={201: ProposalDetailOutput})
    def post(self, request, institution_slug):
        """Propose an act (administrators); the policy's authorities then sign it."""
        _require_admin(request)
        data = ProposalCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = services.threshold_proposal_create(
            institution=request.institution, actor=request.user, **data.validated_data
        )
        return created(_detail(request, proposal))


class ProposalDetailApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(responses=ProposalDetailOutput)
    def get(self, request, institution_slug, proposal_id):
        """The proposal, the exact canonical JSON its authorities sign, and each signature's check."""
        proposal = selectors.proposal_get(institution=request.institution, proposal_id=proposal_id)
        return Response(_detail(request, proposal))


class ProposalSignApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(request=None, responses=ProposalDetailOutput)
    def post(self, request, institution_slug, proposal_id):
        """Sign with this institution's key, as one of the proposal's authorities."""
        proposal = selectors.proposal_get(institution=request.institution, proposal_id=proposal_id)
        proposal = services.threshold_proposal_sign(
            proposal=proposal, authority=request.institution, actor=request.user
        )
        return Response(_detail(request, proposal))


class ProposalWithdrawApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(request=ProposalWithdrawInput, responses=ProposalDetailOutput)
    def post(self, request, institution_slug, proposal_id):
        """Withdraw an open proposal this institution made."""
        proposal = selectors.proposal_get(institution=request.institution, proposal_id=proposal_id)
        data = ProposalWithdrawInput(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = services.threshold_proposal_withdraw(
            proposal=proposal, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(_detail(request, proposal))


class ProposalExportApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, institution_slug, proposal_id):
        """The proposal as a self-contained file any node can re-check (POST it to /api/v1/trust/verify/)."""
        proposal = selectors.proposal_get(institution=request.institution, proposal_id=proposal_id)
        return Response(selectors.proposal_export(proposal=proposal))


class VerificationReportOutput(serializers.Serializer):
    document_intact = serializers.BooleanField()
    effective = serializers.BooleanField()
    digest = serializers.CharField()
    k = serializers.IntegerField()
    valid_signatures = serializers.IntegerField()
    problems = serializers.ListField(child=serializers.CharField())
    signatures = serializers.ListField(child=serializers.DictField())


class ProposalVerifyApi(APIView):
    """Re-checks an exported proposal from the posted file alone, reading no database.

    It trusts the public keys in the file (each must be the fingerprint its key id
    names); comparing them with the authorities' published keys is the caller's step."""

    permission_classes = [AllowAny]

    @extend_schema(request=OpenApiTypes.OBJECT, responses=VerificationReportOutput)
    def post(self, request):
        """Verify an exported threshold proposal: canonical form, digest, policy and signatures."""
        report = doc.verify_export(request.data)
        return Response(VerificationReportOutput(report.as_dict()).data)

"""The transparency log over the API: an institution's events, tree heads and proofs.

Tree heads and proofs contain only hashes, so anyone may fetch them (rate-limited):
that is what lets outsiders check that the log is append-only.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit import selectors
from apps.tenancy.models import Role
from portal.api import InstitutionScopedAPIView, Pagination
from portal.errors import NotFound

AUDIT_READERS = frozenset({Role.AUDITOR, Role.INSTITUTION_ADMIN})


class AuditEventOutput(serializers.Serializer):
    sequence = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor_type = serializers.CharField()
    actor_id = serializers.CharField()
    actor_label = serializers.CharField()
    action = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    digest = serializers.CharField()
    changes = serializers.JSONField()
    leaf_hash = serializers.CharField()


class AuditEventFilterInput(serializers.Serializer):
    action = serializers.CharField(required=False, max_length=100)
    actor = serializers.CharField(required=False, max_length=150)
    target_type = serializers.CharField(required=False, max_length=100)
    target_id = serializers.CharField(required=False, max_length=100)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class TreeHeadOutput(serializers.Serializer):
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField()
    timestamp = serializers.DateTimeField()
    key_id = serializers.CharField(source="key.key_id")
    public_key = serializers.SerializerMethodField()
    signature = serializers.CharField()

    def get_public_key(self, sth) -> str:
        return bytes(sth.key.public_key).hex()


class InclusionInput(serializers.Serializer):
    sequence = serializers.IntegerField(min_value=0)
    tree_size = serializers.IntegerField(min_value=1)


class InclusionOutput(serializers.Serializer):
    sequence = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField()
    audit_path = serializers.ListField(child=serializers.CharField())


class ConsistencyInput(serializers.Serializer):
    first = serializers.IntegerField(min_value=1)
    second = serializers.IntegerField(min_value=1)


class ConsistencyOutput(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField())


class AuditEventListApi(InstitutionScopedAPIView):
    required_roles = AUDIT_READERS

    @extend_schema(parameters=[AuditEventFilterInput], responses=AuditEventOutput(many=True))
    def get(self, request, institution_slug):
        """Sequenced events of the institution, newest first."""
        filters = AuditEventFilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = selectors.audit_events_for_institution(
            institution=request.institution, filters=filters.validated_data
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventOutput(page, many=True).data)


class AuditEventDetailApi(InstitutionScopedAPIView):
    required_roles = AUDIT_READERS

    @extend_schema(responses=AuditEventOutput)
    def get(self, request, institution_slug, sequence):
        event = selectors.audit_event_get(institution=request.institution, sequence=sequence)
        return Response(AuditEventOutput(event).data)


class TreeHeadLatestApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=TreeHeadOutput)
    def get(self, request):
        """The most recent signed tree head."""
        sth = selectors.tree_head_latest()
        if sth is None:
            raise NotFound("No tree head has been signed yet.")
        return Response(TreeHeadOutput(sth).data)


class TreeHeadAtSizeApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=TreeHeadOutput)
    def get(self, request, tree_size):
        return Response(TreeHeadOutput(selectors.tree_head_at_size(tree_size=tree_size)).data)


class InclusionProofApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(parameters=[InclusionInput], responses=InclusionOutput)
    def get(self, request):
        """Audit path proving the entry at `sequence` is in the tree of `tree_size`."""
        params = InclusionInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        sequence, tree_size = params.validated_data["sequence"], params.validated_data["tree_size"]
        path = selectors.inclusion_proof(sequence=sequence, tree_size=tree_size)
        leaf = selectors.leaf_hash_at(sequence=sequence)
        return Response(
            InclusionOutput(
                {"sequence": sequence, "tree_size": tree_size, "leaf_hash": leaf, "audit_path": path}
            ).data
        )


class ConsistencyProofApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(parameters=[ConsistencyInput], responses=ConsistencyOutput)
    def get(self, request):
        """Proof that the tree of size `first` is a prefix of the tree of size `second`."""
        params = ConsistencyInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        first, second = params.validated_data["first"], params.validated_data["second"]
        proof = selectors.consistency_proof(first=first, second=second)
        return Response(ConsistencyOutput({"first": first, "second": second, "proof": proof}).data)

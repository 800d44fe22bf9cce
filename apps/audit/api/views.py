"""The transparency log over the API: an institution's events, tree heads and proofs.

Tree heads and proofs contain only hashes, so anyone may fetch them (rate-limited):
that is what lets outsiders check that the log is append-only.

What an outsider checks, with nothing but these responses:
- leaf: `leaf_hash == SHA-256(0x00 || entry)`, `entry` as given by the event endpoints;
- inclusion and consistency: RFC 9162 §2.1.3.2 and §2.1.4.2 against `root_hash`;
- signature: Ed25519 over `"civitas-signed-tree-head-v1\n"` followed by the JSON object
  `{"root_hash": ..., "timestamp": ..., "tree_size": ...}` with sorted keys and no
  whitespace, `timestamp` being the string exactly as returned.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit import selectors, services
from apps.audit.permissions import AUDIT_READERS
from apps.audit.services import entry_bytes
from portal.api import InstitutionScopedAPIView, Pagination
from portal.errors import NotFound


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
    entry = serializers.SerializerMethodField(help_text="The canonical JSON the leaf hash is computed over.")

    def get_entry(self, event) -> str:
        return entry_bytes(event).decode()


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
    # Exactly the string that was signed: DRF's DateTimeField would turn "+00:00" into "Z".
    timestamp = serializers.SerializerMethodField()
    key_id = serializers.CharField(source="key.key_id")
    public_key = serializers.SerializerMethodField()
    signature = serializers.CharField()

    def get_timestamp(self, sth) -> str:
        return sth.timestamp.isoformat()

    def get_public_key(self, sth) -> str:
        return bytes(sth.key.public_key).hex()


class TreeSizeInput(serializers.Serializer):
    tree_size = serializers.IntegerField(min_value=0)


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
        events = selectors.audit_events_for_institution(institution=request.institution, filters=filters.validated_data)
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

    @extend_schema(
        parameters=[OpenApiParameter("tree_size", int, OpenApiParameter.PATH, description="A size of the log (>= 0).")],
        responses=TreeHeadOutput,
    )
    def get(self, request, tree_size):
        """The tree head signed at this size."""
        # The route takes any string so that "-1" or "ten" get a 400 naming the problem.
        params = TreeSizeInput(data={"tree_size": tree_size})
        params.is_valid(raise_exception=True)
        return Response(TreeHeadOutput(selectors.tree_head_at_size(tree_size=params.validated_data["tree_size"])).data)


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
            InclusionOutput({"sequence": sequence, "tree_size": tree_size, "leaf_hash": leaf, "audit_path": path}).data
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


class LogVerificationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    entries_total = serializers.IntegerField()
    entries_checked = serializers.IntegerField()
    percent = serializers.IntegerField()
    tree_heads_checked = serializers.IntegerField()
    root_hash = serializers.CharField()
    findings = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class LogVerificationListApi(InstitutionScopedAPIView):
    required_roles = AUDIT_READERS

    @extend_schema(responses=LogVerificationOutput(many=True))
    def get(self, request, institution_slug):
        """Recent verifications requested in this institution."""
        verifications = selectors.log_verifications_recent(institution=request.institution, limit=50)
        return Response(LogVerificationOutput(verifications, many=True).data)

    @extend_schema(request=None, responses={202: LogVerificationOutput})
    def post(self, request, institution_slug):
        """Queue a verification of the whole log; poll its URL for progress."""
        verification = services.log_verification_request(institution=request.institution, actor=request.user)
        return Response(LogVerificationOutput(verification).data, status=202)


class LogVerificationDetailApi(InstitutionScopedAPIView):
    required_roles = AUDIT_READERS

    @extend_schema(responses=LogVerificationOutput)
    def get(self, request, institution_slug, verification_id):
        verification = selectors.log_verification_get(institution=request.institution, verification_id=verification_id)
        return Response(LogVerificationOutput(verification).data)

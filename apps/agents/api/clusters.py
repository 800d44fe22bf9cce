"""Clusters and their runs over the API."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from apps.agents.api.views import _parse, _require_admin
from apps.agents.clusters import selectors, services
from apps.agents.clusters.calibration import calibration_report
from apps.tenancy.models import Role
from portal.api import ANY_MEMBER, InstitutionScopedAPIView, Pagination, created

# who may put a task to a cluster, and who may read a run (the record is a person's file)
SUBMITTERS = frozenset({Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN})
READERS = SUBMITTERS | {Role.COUNCIL_MEMBER, Role.AUDITOR}


class ClusterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    task_type = serializers.CharField()
    stages = serializers.JSONField()
    allowed_decisions = serializers.JSONField()
    combination_rule = serializers.CharField()
    flagging_policy = serializers.JSONField()
    created_at = serializers.DateTimeField()


class ClusterInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    task_type = serializers.CharField(max_length=80)
    stages = serializers.JSONField()
    allowed_decisions = serializers.JSONField()
    flagging_policy = serializers.JSONField(default=dict)


class RunInput(serializers.Serializer):
    record = serializers.JSONField()
    documents = serializers.JSONField(default=dict)
    concerns = serializers.CharField(
        required=False, allow_blank=True, max_length=150, help_text="User name of the person the case is about."
    )


class ProposalRecordOutput(serializers.Serializer):
    agent = serializers.UUIDField(source="agent.uid")
    agent_did = serializers.CharField(source="agent.did")
    stage_index = serializers.IntegerField()
    stage_name = serializers.CharField()
    proposal = serializers.JSONField()
    signature = serializers.CharField()
    key_id = serializers.CharField()
    findings = serializers.JSONField()
    accepted = serializers.BooleanField()
    refused = serializers.CharField()
    note = serializers.CharField()


class RunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    cluster = serializers.IntegerField(source="cluster_id")
    task_type = serializers.CharField()
    inputs_digest = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    stage_count = serializers.IntegerField()
    decision = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    flagged = serializers.BooleanField()
    reasons = serializers.JSONField()
    weights = serializers.JSONField()
    error = serializers.CharField()
    submitted_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    proposals = serializers.SerializerMethodField()

    def get_proposals(self, run) -> list:
        records = selectors.run_proposals(institution=run.institution, run=run)
        return ProposalRecordOutput(records, many=True).data


class ClusterListApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(responses=ClusterOutput(many=True))
    def get(self, request, institution_slug):
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.clusters_of(institution=request.institution), request, view=self)
        return paginator.get_paginated_response(ClusterOutput(page, many=True).data)

    @extend_schema(request=ClusterInput, responses={201: ClusterOutput})
    def post(self, request, institution_slug):
        """Create a cluster (administrators)."""
        _require_admin(request)
        data = _parse(ClusterInput, request)
        cluster = services.cluster_create(institution=request.institution, actor=request.user, **data)
        return created(ClusterOutput(cluster).data)


class ClusterDetailApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(responses=ClusterOutput)
    def get(self, request, institution_slug, cluster_id):
        return Response(
            ClusterOutput(selectors.cluster_get(institution=request.institution, cluster_id=cluster_id)).data
        )

    @extend_schema(request=ClusterInput, responses=ClusterOutput)
    def put(self, request, institution_slug, cluster_id):
        """Change a cluster (administrators); runs under way keep the stages they started with."""
        _require_admin(request)
        cluster = selectors.cluster_get(institution=request.institution, cluster_id=cluster_id)
        data = _parse(ClusterInput, request)
        return Response(ClusterOutput(services.cluster_update(cluster=cluster, actor=request.user, **data)).data)


class RunSummaryOutput(serializers.Serializer):
    """A run in a list: its outcome, without the record or the proposals (read the run for those)."""

    id = serializers.IntegerField()
    cluster = serializers.IntegerField(source="cluster_id")
    task_type = serializers.CharField()
    inputs_digest = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    stage_count = serializers.IntegerField()
    decision = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    flagged = serializers.BooleanField()
    reasons = serializers.JSONField()
    submitted_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


class ClusterRunsApi(InstitutionScopedAPIView):
    # readers list the runs; only submitters put tasks (checked in post)
    required_roles = READERS

    @extend_schema(responses=RunSummaryOutput(many=True))
    def get(self, request, institution_slug, cluster_id):
        """The cluster's runs, newest first."""
        cluster = selectors.cluster_get(institution=request.institution, cluster_id=cluster_id)
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.cluster_runs(institution=request.institution, cluster=cluster), request, view=self
        )
        return paginator.get_paginated_response(RunSummaryOutput(page, many=True).data)

    @extend_schema(request=RunInput, responses={202: RunOutput})
    def post(self, request, institution_slug, cluster_id):
        """Put a task to the cluster; its stages run in the background (202)."""
        if not request.institution_roles & SUBMITTERS:
            raise exceptions.PermissionDenied(_("Your role in this institution does not allow this."))
        cluster = selectors.cluster_get(institution=request.institution, cluster_id=cluster_id)
        data = _parse(RunInput, request)
        run = services.cluster_run_start(
            cluster=cluster,
            record=data["record"],
            documents=data["documents"],
            actor=request.user,
            concerns=selectors.person_concerned(username=data.get("concerns", "")),
        )
        return Response(RunOutput(run).data, status=202)


class ClusterRunDetailApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(responses=RunOutput)
    def get(self, request, institution_slug, run_id):
        return Response(RunOutput(selectors.cluster_run_get(institution=request.institution, run_id=run_id)).data)


# the cluster's calibration report ----------------------------------------------------------


class AgentCalibrationOutput(serializers.Serializer):
    agent = serializers.UUIDField(source="agent.uid")
    name = serializers.CharField(source="agent.name")
    reviewed = serializers.IntegerField()
    contradicted = serializers.IntegerField()
    contradiction_rate = serializers.FloatField(source="rate")
    watched = serializers.BooleanField()


class CalibrationOutput(serializers.Serializer):
    window = serializers.IntegerField()
    audited = serializers.IntegerField(help_text="Unflagged decisions sampled for audit that have a verdict.")
    changed = serializers.IntegerField(help_text="Of those, how many the council changed.")
    audited_error_rate = serializers.FloatField(allow_null=True)
    flagged_reviewed = serializers.IntegerField()
    flagged_overturned = serializers.IntegerField()
    agents = AgentCalibrationOutput(many=True)
    watch_list = serializers.ListField(child=serializers.CharField())


def calibration_data(cluster) -> dict:
    """The report with the watch list, as the page and the API show it."""
    report = calibration_report(cluster=cluster)
    watched = [str(uid) for uid in (cluster.flagging_policy or {}).get("watch_agents") or []]
    return {
        "window": report.window,
        "audited": report.audited,
        "changed": report.changed,
        "audited_error_rate": report.audited_error_rate,
        "flagged_reviewed": report.flagged_reviewed,
        "flagged_overturned": report.flagged_overturned,
        "agents": [
            {
                "agent": record.agent,
                "reviewed": record.reviewed,
                "contradicted": record.contradicted,
                "rate": record.rate,
                "watched": str(record.agent.uid) in watched,
            }
            for record in report.agents
        ],
        "watch_list": watched,
    }


class ClusterCalibrationApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(responses=CalibrationOutput, operation_id="agents_clusters_calibration_retrieve")
    def get(self, request, institution_slug, cluster_id):
        """How the councils' verdicts judged the cluster's recent decisions and agents."""
        cluster = selectors.cluster_get(institution=request.institution, cluster_id=cluster_id)
        return Response(CalibrationOutput(calibration_data(cluster)).data)

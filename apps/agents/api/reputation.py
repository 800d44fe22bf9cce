"""Agents' reputation over the API: the ranking, an agent's history and why its score moved."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.agents.api.views import _agent, _require_admin
from apps.agents.reputation import selectors, services
from portal.api import ANY_MEMBER, InstitutionScopedAPIView
from portal.errors import ValidationFailed


class SnapshotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    evidence_upto = serializers.IntegerField()
    evidence_count = serializers.IntegerField()
    pretrusted = serializers.ListField(child=serializers.CharField())
    trigger = serializers.CharField()
    iterations = serializers.IntegerField()
    converged = serializers.BooleanField()


class RankOutput(serializers.Serializer):
    agent = serializers.UUIDField(source="agent.uid")
    name = serializers.CharField(source="agent.name")
    score = serializers.FloatField()
    rank = serializers.IntegerField()


class RankingOutput(serializers.Serializer):
    snapshot = SnapshotOutput(allow_null=True)
    agents = RankOutput(many=True)


class HistoryOutput(serializers.Serializer):
    snapshot = serializers.IntegerField(source="snapshot.pk")
    computed_at = serializers.DateTimeField(source="snapshot.computed_at")
    score = serializers.FloatField()
    rank = serializers.IntegerField()
    change = serializers.FloatField(allow_null=True)


class EdgeOutput(serializers.Serializer):
    graph = serializers.CharField()
    rater = serializers.SerializerMethodField()
    before = serializers.FloatField(source="contribution.before")
    after = serializers.FloatField(source="contribution.after")
    change = serializers.FloatField(source="contribution.change")
    reason = serializers.CharField(source="reason.kind", help_text="new, gone, share or standing")
    reason_before = serializers.FloatField(source="reason.before")
    reason_after = serializers.FloatField(source="reason.after")

    def get_rater(self, edge) -> str | None:
        return str(edge.rater.uid) if edge.rater else None


class MoveOutput(serializers.Serializer):
    snapshot = serializers.IntegerField(source="after_snapshot.pk")
    previous_snapshot = serializers.IntegerField(source="before_snapshot.pk", allow_null=True, default=None)
    before = serializers.FloatField(source="explanation.before")
    after = serializers.FloatField(source="explanation.after")
    change = serializers.FloatField()
    by_graph = serializers.SerializerMethodField()
    edges = EdgeOutput(many=True)
    new_evidence = serializers.IntegerField()
    text = serializers.CharField(source="explanation.text", help_text="The explanation in English, for logs.")

    def get_by_graph(self, move) -> dict[str, float]:
        return dict(move.by_graph)


class AgentReputationOutput(serializers.Serializer):
    history = HistoryOutput(many=True)
    move = MoveOutput(allow_null=True)


class ReputationApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="agents_reputation_ranking", responses=RankingOutput)
    def get(self, request, institution_slug):
        """The latest scores of the institution's agents, highest first."""
        snapshot = selectors.latest_snapshot(institution=request.institution)
        rows = selectors.ranking(institution=request.institution, snapshot=snapshot) if snapshot else []
        return Response(RankingOutput({"snapshot": snapshot, "agents": rows}).data)

    @extend_schema(operation_id="agents_reputation_recompute", request=None, responses={200: SnapshotOutput, 204: None})
    def post(self, request, institution_slug):
        """Recompute now (administrators); 204 when nothing changed since the last computation."""
        _require_admin(request)
        snapshot = services.reputation_recompute(institution=request.institution, trigger="manual")
        if snapshot is None:
            return Response(status=204)
        return Response(SnapshotOutput(snapshot).data)


class AgentReputationApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(
        operation_id="agent_reputation_history",
        parameters=[OpenApiParameter("snapshot", int, description="explain this computation (default: the latest)")],
        responses=AgentReputationOutput,
    )
    def get(self, request, institution_slug, agent_uid):
        """The agent's score history and why it moved in one computation."""
        agent = _agent(request, agent_uid)
        snapshot = None
        chosen = request.query_params.get("snapshot", "")
        if chosen:
            if not chosen.isdigit():
                raise ValidationFailed(errors={"snapshot": ["A computation id (a number)."]})
            snapshot = selectors.snapshot_get(institution=request.institution, snapshot_id=int(chosen))
        move = selectors.reputation_move(institution=request.institution, agent=agent, snapshot=snapshot)
        history = selectors.agent_history(institution=request.institution, agent=agent)
        return Response(AgentReputationOutput({"history": history, "move": move}).data)

"""Learning from verdicts over the API, under /api/v1/institutions/<slug>/agents/<uuid>/learning/."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from apps.agents import selectors as agent_selectors
from apps.agents.api.clusters import READERS
from apps.agents.api.views import ADMINS, _parse
from apps.agents.learning import selectors, services
from portal.api import InstitutionScopedAPIView


class SummaryOutput(serializers.Serializer):
    examples = serializers.IntegerField()
    held_out = serializers.IntegerField()
    trained_on = serializers.IntegerField()
    labels = serializers.DictField(child=serializers.IntegerField())
    first_item = serializers.IntegerField(allow_null=True)
    last_item = serializers.IntegerField(allow_null=True)
    since_last_candidate = serializers.IntegerField()
    retrain_every = serializers.IntegerField()
    training = serializers.BooleanField()


class CandidateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    version_label = serializers.CharField()
    status = serializers.CharField()
    trigger = serializers.CharField()
    base_model_version = serializers.CharField()
    base_artefact_sha256 = serializers.CharField()
    artefact_path = serializers.CharField()
    artefact_sha256 = serializers.CharField()
    training_data = serializers.JSONField()
    metrics = serializers.JSONField()
    evaluation = serializers.JSONField()
    error = serializers.CharField()
    note = serializers.CharField()
    agent_version = serializers.IntegerField(allow_null=True)
    requested_by = serializers.CharField(source="requested_by.username", default=None, allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", default=None, allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)


class LearningOutput(serializers.Serializer):
    agent = serializers.UUIDField()
    summary = SummaryOutput()
    candidates = CandidateOutput(many=True)


class PromoteInput(serializers.Serializer):
    note = serializers.CharField(max_length=services.MAX_NOTE, allow_blank=True, default="")


class RejectInput(serializers.Serializer):
    reason = serializers.CharField(max_length=services.MAX_NOTE, allow_blank=True, default="")


def _agent(request, agent_uid):
    return agent_selectors.agent_get(institution=request.institution, agent_uid=agent_uid)


def _candidate(request, agent_uid, candidate_id):
    agent = _agent(request, agent_uid)
    return selectors.candidate_get(institution=request.institution, agent=agent, candidate_id=candidate_id)


class LearningApi(InstitutionScopedAPIView):
    # the examples are drawn from case files: those who read runs read this; admins retrain
    required_roles = READERS

    @extend_schema(responses=LearningOutput, operation_id="agents_learning_retrieve")
    def get(self, request, institution_slug, agent_uid):
        """The agent's training examples from council verdicts, and its model candidates, newest first."""
        agent = _agent(request, agent_uid)
        summary = selectors.learning_summary(institution=request.institution, agent=agent)
        candidates = selectors.candidates_of(institution=request.institution, agent=agent)
        return Response(LearningOutput({"agent": agent.uid, "summary": summary, "candidates": candidates}).data)

    @extend_schema(request=None, responses={202: CandidateOutput}, operation_id="agents_learning_retrain")
    def post(self, request, institution_slug, agent_uid):
        """Retrain (administrators): a candidate is trained in the background and evaluated; it is
        not used until an administrator promotes it."""
        if not request.institution_roles & ADMINS:
            raise exceptions.PermissionDenied(_("Only an institution administrator can retrain a model."))
        candidate = services.model_retrain(agent=_agent(request, agent_uid), actor=request.user)
        candidate.refresh_from_db()
        return Response(CandidateOutput(candidate).data, status=202)


class CandidateApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(responses=CandidateOutput, operation_id="agents_learning_candidate_retrieve")
    def get(self, request, institution_slug, agent_uid, candidate_id):
        return Response(CandidateOutput(_candidate(request, agent_uid, candidate_id)).data)


class CandidatePromoteApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(request=PromoteInput, responses=CandidateOutput, operation_id="agents_learning_candidate_promote")
    def post(self, request, institution_slug, agent_uid, candidate_id):
        """Promote a candidate: the agent's next version uses it, and must be certified again."""
        candidate = _candidate(request, agent_uid, candidate_id)
        data = _parse(PromoteInput, request)
        return Response(
            CandidateOutput(services.model_candidate_promote(candidate=candidate, actor=request.user, **data)).data
        )


class CandidateRejectApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(request=RejectInput, responses=CandidateOutput, operation_id="agents_learning_candidate_reject")
    def post(self, request, institution_slug, agent_uid, candidate_id):
        candidate = _candidate(request, agent_uid, candidate_id)
        data = _parse(RejectInput, request)
        return Response(
            CandidateOutput(services.model_candidate_reject(candidate=candidate, actor=request.user, **data)).data
        )

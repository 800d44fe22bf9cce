"""The agent registry over the API, under /api/v1/institutions/<slug>/agents/."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from apps.agents import selectors, services
from apps.agents.models import AutonomyLevel, EngineName
from apps.tenancy.models import Role
from portal.api import ANY_MEMBER, InstitutionScopedAPIView, Pagination, created

ADMINS = frozenset({Role.INSTITUTION_ADMIN})


class ModelCardOutput(serializers.Serializer):
    purpose = serializers.CharField()
    training_sources = serializers.JSONField()
    evaluation_metrics = serializers.JSONField()
    known_limits = serializers.CharField()
    accountable_person = serializers.CharField()
    public = serializers.BooleanField()
    updated_at = serializers.DateTimeField()


class AgentOutput(serializers.Serializer):
    uid = serializers.UUIDField()
    did = serializers.CharField()
    name = serializers.CharField()
    purpose = serializers.CharField()
    capabilities = serializers.ListField(child=serializers.CharField())
    autonomy_level = serializers.IntegerField()
    engine = serializers.CharField()
    config = serializers.JSONField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    status_changed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    model_card = ModelCardOutput()


class VersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    engine = serializers.CharField()
    config = serializers.JSONField()
    changed_by = serializers.CharField(source="changed_by_label")
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class AgentInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    purpose = serializers.CharField(max_length=5000)
    capabilities = serializers.ListField(child=serializers.CharField(max_length=80), max_length=30)
    autonomy_level = serializers.ChoiceField(choices=AutonomyLevel.choices, default=AutonomyLevel.ADVISES)
    engine = serializers.ChoiceField(choices=EngineName.choices)
    config = serializers.JSONField(default=dict)


class ModelCardInput(serializers.Serializer):
    purpose = serializers.CharField(max_length=5000, allow_blank=True, default="")
    training_sources = serializers.JSONField(default=list)
    evaluation_metrics = serializers.JSONField(default=dict)
    known_limits = serializers.CharField(max_length=5000, allow_blank=True, default="")
    accountable_person = serializers.CharField(max_length=200, allow_blank=True, default="")
    public = serializers.BooleanField(default=False)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=services.MAX_REASON, allow_blank=True, default="")


class ProposalCreatedOutput(serializers.Serializer):
    id = serializers.IntegerField()
    uid = serializers.UUIDField()
    act_type = serializers.CharField()
    status = serializers.CharField()
    digest = serializers.CharField()
    k = serializers.IntegerField()


def _require_admin(request) -> None:
    if not request.institution_roles & ADMINS:
        raise exceptions.PermissionDenied(_("Only an institution administrator can manage agents."))


def _parse(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _agent(request, agent_uid):
    return selectors.agent_get(institution=request.institution, agent_uid=agent_uid)


class AgentListApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(responses=AgentOutput(many=True))
    def get(self, request, institution_slug):
        """The institution's agents, any status."""
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.agents_of(institution=request.institution), request, view=self)
        return paginator.get_paginated_response(AgentOutput(page, many=True).data)

    @extend_schema(request=AgentInput, responses={201: AgentOutput})
    def post(self, request, institution_slug):
        """Register a draft agent (administrators)."""
        _require_admin(request)
        data = _parse(AgentInput, request)
        agent = services.agent_register(institution=request.institution, actor=request.user, **data)
        return created(AgentOutput(agent).data)


class AgentDetailApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(responses=AgentOutput)
    def get(self, request, institution_slug, agent_uid):
        return Response(AgentOutput(_agent(request, agent_uid)).data)

    @extend_schema(request=AgentInput, responses=AgentOutput)
    def put(self, request, institution_slug, agent_uid):
        """Change an agent (administrators); a new engine or configuration is a new version."""
        _require_admin(request)
        agent = _agent(request, agent_uid)
        data = _parse(AgentInput, request)
        agent = services.agent_update(agent=agent, actor=request.user, **data)
        agent.refresh_from_db()
        return Response(AgentOutput(agent).data)


class AgentVersionsApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(responses=VersionOutput(many=True))
    def get(self, request, institution_slug, agent_uid):
        """Every version of the agent, newest first."""
        agent = _agent(request, agent_uid)
        return Response(
            VersionOutput(selectors.agent_versions(institution=request.institution, agent=agent), many=True).data
        )


class ModelCardApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(responses=ModelCardOutput)
    def get(self, request, institution_slug, agent_uid):
        return Response(ModelCardOutput(_agent(request, agent_uid).model_card).data)

    @extend_schema(request=ModelCardInput, responses=ModelCardOutput)
    def put(self, request, institution_slug, agent_uid):
        """Rewrite the model card (administrators)."""
        _require_admin(request)
        agent = _agent(request, agent_uid)
        data = _parse(ModelCardInput, request)
        return Response(ModelCardOutput(services.model_card_update(agent=agent, actor=request.user, **data)).data)


class _StatusApi(InstitutionScopedAPIView):
    required_roles = ADMINS
    service = None

    @extend_schema(request=ReasonInput, responses=AgentOutput)
    def post(self, request, institution_slug, agent_uid):
        agent = _agent(request, agent_uid)
        data = _parse(ReasonInput, request)
        agent = type(self).service(agent=agent, actor=request.user, reason=data["reason"])
        return Response(AgentOutput(agent).data)


class AgentSuspendApi(_StatusApi):
    """The kill switch: the agent is given no more work (a reason is required)."""

    required_roles = ADMINS
    service = staticmethod(services.agent_suspend)


class AgentReinstateApi(_StatusApi):
    required_roles = ADMINS
    service = staticmethod(services.agent_reinstate)


class AgentRetireApi(_StatusApi):
    required_roles = ADMINS
    service = staticmethod(services.agent_retire)


class AgentCertifyApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(request=None, responses={201: ProposalCreatedOutput})
    def post(self, request, institution_slug, agent_uid):
        """Propose the agent's certification: a threshold approval its authorities sign."""
        proposal = services.agent_certification_propose(agent=_agent(request, agent_uid), actor=request.user)
        return created(ProposalCreatedOutput(proposal).data)

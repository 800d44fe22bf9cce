"""Councils, their queues, votes and verdicts over the API (owned by the review UI).

The same rules as the pages: any member reads the councils; administrators create and
change them; a council's queue and cases are read by its sitting members and by the
institution's administrators and auditors (403 for anyone else); only sitting members vote
or recuse (the services check it).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from apps.feedback import selectors, services
from apps.feedback.models import Escalation, Impact, ItemStatus, MajorityRule, VoteChoice
from apps.tenancy.models import Role
from portal.api import ANY_MEMBER, InstitutionScopedAPIView, Pagination, created
from portal.errors import ValidationFailed

ADMINS = frozenset({Role.INSTITUTION_ADMIN})


def _parse(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _require_admin(request) -> None:
    if not request.institution_roles & ADMINS:
        raise exceptions.PermissionDenied(_("Only an institution administrator can manage councils."))


def _council_for_queue(request, council_id: int):
    council = selectors.council_get(institution=request.institution, council_id=council_id)
    if not selectors.can_see_queue(council=council, user=request.user):
        raise exceptions.PermissionDenied(
            _("Only the council's sitting members, administrators and auditors see its cases.")
        )
    return council


# --- councils -------------------------------------------------------------------------------


class CouncilOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    mandate_task_types = serializers.ListField(child=serializers.CharField())
    mandate_impacts = serializers.ListField(child=serializers.CharField())
    quorum = serializers.IntegerField()
    majority = serializers.CharField()
    deadline_hours = serializers.IntegerField()
    escalation = serializers.CharField()
    backup_council = serializers.IntegerField(source="backup_council_id", allow_null=True)
    strata_fields = serializers.ListField(child=serializers.CharField())
    public_record = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class CouncilInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, allow_blank=True, default="")
    mandate_task_types = serializers.ListField(child=serializers.CharField(max_length=80), min_length=1)
    mandate_impacts = serializers.ListField(child=serializers.ChoiceField(choices=Impact.choices), min_length=1)
    quorum = serializers.IntegerField(min_value=1, max_value=99)
    majority = serializers.ChoiceField(choices=MajorityRule.choices)
    deadline_hours = serializers.IntegerField(min_value=1, max_value=24 * 90)
    escalation = serializers.ChoiceField(choices=Escalation.choices)
    backup_council = serializers.IntegerField(allow_null=True, required=False, default=None)
    strata_fields = serializers.ListField(child=serializers.CharField(max_length=60), default=list, max_length=5)
    public_record = serializers.BooleanField(default=True)


def _council_arguments(request, data: dict) -> dict:
    """The service's keyword arguments; the back-up council is one of this institution's."""
    arguments = dict(data)
    backup_id = arguments.pop("backup_council", None)
    backup = None
    if backup_id is not None:
        backup = selectors.councils_of(institution=request.institution).filter(pk=backup_id).first()
        if backup is None:
            raise ValidationFailed(
                errors={"backup_council": [_("The back-up council must be another council of this institution.")]}
            )
    arguments["backup_council"] = backup
    return arguments


class CouncilListApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="councils_list", responses=CouncilOutput(many=True))
    def get(self, request, institution_slug):
        """The institution's councils and their mandates (any member)."""
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.councils_of(institution=request.institution), request, view=self)
        return paginator.get_paginated_response(CouncilOutput(page, many=True).data)

    @extend_schema(operation_id="councils_create", request=CouncilInput, responses={201: CouncilOutput})
    def post(self, request, institution_slug):
        """Create a council (administrators)."""
        _require_admin(request)
        data = _council_arguments(request, _parse(CouncilInput, request))
        council = services.council_create(institution=request.institution, actor=request.user, **data)
        return created(CouncilOutput(council).data)


class CouncilDetailApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="councils_retrieve", responses=CouncilOutput)
    def get(self, request, institution_slug, council_id):
        return Response(
            CouncilOutput(selectors.council_get(institution=request.institution, council_id=council_id)).data
        )

    @extend_schema(operation_id="councils_update", request=CouncilInput, responses=CouncilOutput)
    def put(self, request, institution_slug, council_id):
        """Change a council's mandate or rules (administrators); open items keep their deadline."""
        _require_admin(request)
        council = selectors.council_get(institution=request.institution, council_id=council_id)
        data = _council_arguments(request, _parse(CouncilInput, request))
        return Response(CouncilOutput(services.council_update(council=council, actor=request.user, **data)).data)


# --- the queue and its items ------------------------------------------------------------------


class ItemSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    council = serializers.IntegerField(source="council_id")
    kind = serializers.CharField()
    task_type = serializers.CharField()
    impact = serializers.CharField()
    question = serializers.CharField()
    proposed_decision = serializers.CharField()
    status = serializers.CharField()
    deadline = serializers.DateTimeField()
    verdict = serializers.CharField()
    verdict_decision = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)
    escalated_to = serializers.IntegerField(source="escalated_to_id", allow_null=True)
    created_at = serializers.DateTimeField()


class VoteOutput(serializers.Serializer):
    id = serializers.IntegerField()
    member = serializers.CharField(source="member.user.username")
    member_kind = serializers.CharField(source="member.kind")
    choice = serializers.CharField()
    amended_decision = serializers.CharField()
    reason = serializers.CharField()
    cast_at = serializers.DateTimeField()


class RecusalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    member = serializers.CharField(source="member.user.username")
    conflict = serializers.CharField()
    declared_at = serializers.DateTimeField()


class DissentOutput(serializers.Serializer):
    vote = serializers.CharField()
    amended_decision = serializers.CharField()
    reason = serializers.CharField()


class ItemDetailOutput(ItemSummaryOutput):
    allowed_decisions = serializers.ListField(child=serializers.CharField())
    case = serializers.JSONField()
    verdict_reasons = serializers.ListField(child=serializers.CharField())
    dissent = DissentOutput(many=True)
    applied_at = serializers.DateTimeField(allow_null=True)
    apply_error = serializers.CharField()
    escalated_from = serializers.IntegerField(source="escalated_from_id", allow_null=True)
    votes = serializers.SerializerMethodField()
    recusals = serializers.SerializerMethodField()

    def get_votes(self, item) -> list[dict]:
        return VoteOutput(selectors.votes_of(item=item), many=True).data

    def get_recusals(self, item) -> list[dict]:
        return RecusalOutput(selectors.recusals_of(item=item), many=True).data


STATUS_FILTER = OpenApiParameter(
    "status",
    str,
    enum=[*ItemStatus.values, "all"],
    description="Which items: open (the default), decided, escalated or all.",
)


class CouncilQueueApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER  # and a seat on the council, or administrator or auditor (checked below)

    @extend_schema(
        operation_id="council_items_list", parameters=[STATUS_FILTER], responses=ItemSummaryOutput(many=True)
    )
    def get(self, request, institution_slug, council_id):
        """The council's queue: open items by deadline first (sitting members, administrators, auditors)."""
        council = _council_for_queue(request, council_id)
        status = request.query_params.get("status", ItemStatus.OPEN)
        if status not in {*ItemStatus.values, "all"}:
            raise ValidationFailed(errors={"status": [_("Choose open, decided, escalated or all.")]})
        items = selectors.queue(council=council, status="" if status == "all" else status)
        paginator = Pagination()
        page = paginator.paginate_queryset(items.order_by("deadline", "pk"), request, view=self)
        return paginator.get_paginated_response(ItemSummaryOutput(page, many=True).data)


class CouncilItemApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="council_items_retrieve", responses=ItemDetailOutput)
    def get(self, request, institution_slug, council_id, item_id):
        """A case with what the agents saw, the votes, the recusals and the verdict."""
        council = _council_for_queue(request, council_id)
        return Response(ItemDetailOutput(selectors.item_get(council=council, item_id=item_id)).data)


class VoteInput(serializers.Serializer):
    choice = serializers.ChoiceField(choices=VoteChoice.choices)
    reason = serializers.CharField(max_length=services.MAX_REASON)
    amended_decision = serializers.CharField(max_length=100, allow_blank=True, default="")


class RecusalInput(serializers.Serializer):
    conflict = serializers.CharField(max_length=services.MAX_REASON)


class CouncilVoteApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER  # the service lets only sitting members vote

    @extend_schema(operation_id="council_items_vote", request=VoteInput, responses={201: ItemDetailOutput})
    def post(self, request, institution_slug, council_id, item_id):
        """Cast a vote with its reason; the verdict is reached as soon as quorum and majority allow."""
        council = _council_for_queue(request, council_id)
        item = selectors.item_get(council=council, item_id=item_id)
        data = _parse(VoteInput, request)
        services.review_vote(item=item, user=request.user, **data)
        return created(ItemDetailOutput(selectors.item_get(council=council, item_id=item.pk)).data)


class CouncilRecuseApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER  # the service lets only sitting members recuse

    @extend_schema(operation_id="council_items_recuse", request=RecusalInput, responses={201: ItemDetailOutput})
    def post(self, request, institution_slug, council_id, item_id):
        """Declare a conflict of interest and step aside from one case."""
        council = _council_for_queue(request, council_id)
        item = selectors.item_get(council=council, item_id=item_id)
        data = _parse(RecusalInput, request)
        services.review_recuse(item=item, user=request.user, conflict=data["conflict"])
        return created(ItemDetailOutput(selectors.item_get(council=council, item_id=item.pk)).data)


def _routes():
    from django.urls import path

    councils = "institutions/<slug:institution_slug>/councils/"
    council = councils + "<int:council_id>/"
    item = council + "items/<int:item_id>/"
    return [
        path(councils, CouncilListApi.as_view(), name="api-councils"),
        path(council, CouncilDetailApi.as_view(), name="api-council"),
        path(council + "items/", CouncilQueueApi.as_view(), name="api-council-items"),
        path(item, CouncilItemApi.as_view(), name="api-council-item"),
        path(item + "votes/", CouncilVoteApi.as_view(), name="api-council-item-vote"),
        path(item + "recusal/", CouncilRecuseApi.as_view(), name="api-council-item-recuse"),
    ]


urlpatterns: list = _routes()

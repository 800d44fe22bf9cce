"""Council members, volunteers, draws by lot and sharing over the API.

The roles are the pages' (apps/feedback/membership/views.py): any member of the
institution reads the members, the draws and the volunteers per stratum, and volunteers
themself; administrators seat officials, end seats, draw, and share; administrators and
auditors see who volunteers and the shares. A draw's record is also public, for anyone to
re-run: `GET /api/v1/councils/draws/{draw_id}/` (pseudonyms only).
"""

from __future__ import annotations

from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.feedback import draw as sortition
from apps.feedback import selectors as council_selectors
from apps.feedback import services as council_services
from apps.feedback.membership import selectors, services
from apps.feedback.models import MemberKind
from apps.identity.models import User
from apps.tenancy.models import Role
from portal.api import ANY_MEMBER, InstitutionScopedAPIView, Pagination, created
from portal.errors import ValidationFailed

ADMINS = frozenset({Role.INSTITUTION_ADMIN})
OVERSEERS = frozenset({Role.INSTITUTION_ADMIN, Role.AUDITOR})


def _require_admin(request) -> None:
    if not request.institution_roles & ADMINS:
        raise exceptions.PermissionDenied(_("Only an institution administrator can manage council members."))


def _parse(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _council(request, council_id):
    return council_selectors.council_get(institution=request.institution, council_id=council_id)


# --- serializers --------------------------------------------------------------------------


class SeatOutput(serializers.Serializer):
    id = serializers.IntegerField()
    council = serializers.IntegerField(source="council_id")
    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="user.get_full_name")
    kind = serializers.CharField()
    term_start = serializers.DateField()
    term_end = serializers.DateField()
    draw = serializers.IntegerField(source="draw_id", allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    sitting = serializers.SerializerMethodField()

    def get_sitting(self, member) -> bool:
        return member.sits_on(timezone.localdate())


class SeatOfficialInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    term_start = serializers.DateField()
    term_end = serializers.DateField()


class EndReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class VolunteerOfferInput(serializers.Serializer):
    strata = serializers.DictField(child=serializers.CharField(max_length=200, allow_blank=True), default=dict)


class VolunteerMineOutput(serializers.Serializer):
    volunteering = serializers.BooleanField()
    pseudonym = serializers.CharField(allow_null=True)
    strata = serializers.DictField(child=serializers.CharField())


class VolunteerRowOutput(serializers.Serializer):
    pseudonym = serializers.SerializerMethodField()
    username = serializers.CharField(source="user.username")
    strata = serializers.DictField(child=serializers.CharField())
    volunteered_at = serializers.DateTimeField()

    def get_pseudonym(self, volunteer) -> str:
        return services.pseudonym(volunteer)


class VolunteerStratumCountOutput(serializers.Serializer):
    strata = serializers.DictField(child=serializers.CharField())
    volunteers = serializers.IntegerField()


class DrawCandidateOutput(serializers.Serializer):
    ref = serializers.CharField()
    strata = serializers.DictField(child=serializers.CharField())


class DrawRecordOutput(serializers.Serializer):
    id = serializers.IntegerField()
    council = serializers.IntegerField(source="council_id")
    institution = serializers.CharField(source="institution.slug")
    algorithm = serializers.CharField()
    seed = serializers.CharField()
    seats = serializers.IntegerField()
    strata_fields = serializers.ListField(child=serializers.CharField())
    candidates = DrawCandidateOutput(many=True)
    quotas = serializers.DictField(child=serializers.IntegerField())
    selected = serializers.ListField(child=serializers.CharField())
    term_start = serializers.DateField()
    term_end = serializers.DateField()
    drawn_at = serializers.DateTimeField()
    verified = serializers.SerializerMethodField()

    def get_verified(self, record) -> bool:
        """Re-running the draw from this record gives its quotas and selection."""
        return sortition.verify(record)


class DrawRequestInput(serializers.Serializer):
    seats = serializers.IntegerField(min_value=1, max_value=services.MAX_SEATS)
    term_start = serializers.DateField()
    term_end = serializers.DateField()
    seed = serializers.CharField(max_length=services.MAX_SEED, required=False, allow_blank=True)


class CouncilShareOutput(serializers.Serializer):
    id = serializers.IntegerField()
    council = serializers.IntegerField(source="council_id")
    council_name = serializers.CharField(source="council.name")
    owner = serializers.CharField(source="institution.slug")
    shared_with = serializers.CharField(source="shared_with.slug")
    proposal = serializers.UUIDField(source="proposal_uid")
    created_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()


class CouncilShareInput(serializers.Serializer):
    shared_with = serializers.SlugField(max_length=60)


class CouncilShareProposalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    uid = serializers.UUIDField()
    act_type = serializers.CharField()
    status = serializers.CharField()
    payload = serializers.JSONField()
    expires_at = serializers.DateTimeField()


# --- views --------------------------------------------------------------------------------


class MemberListApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="council_members_list", responses=SeatOutput(many=True))
    def get(self, request, institution_slug, council_id):
        """Seats of the council, current and past, latest term first."""
        council = _council(request, council_id)
        paginator = Pagination()
        page = paginator.paginate_queryset(council_selectors.members_of(council=council), request, view=self)
        return paginator.get_paginated_response(SeatOutput(page, many=True).data)

    @extend_schema(operation_id="council_members_add_official", request=SeatOfficialInput, responses={201: SeatOutput})
    def post(self, request, institution_slug, council_id):
        """Seat an official for a term (administrators)."""
        _require_admin(request)
        council = _council(request, council_id)
        data = _parse(SeatOfficialInput, request)
        user = User.objects.filter(username=data["username"]).first()
        if user is None:
            raise ValidationFailed(errors={"user": [_("Only members of the institution can sit on its councils.")]})
        member = council_services.council_member_add(
            council=council,
            user=user,
            kind=MemberKind.OFFICIAL,
            term_start=data["term_start"],
            term_end=data["term_end"],
            actor=request.user,
        )
        return created(SeatOutput(member).data)


class MemberEndApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(operation_id="council_members_end", request=EndReasonInput, responses=SeatOutput)
    def post(self, request, institution_slug, council_id, member_id):
        """End a seat before its term, with the reason (administrators)."""
        council = _council(request, council_id)
        member = selectors.member_get(council=council, member_id=member_id)
        data = _parse(EndReasonInput, request)
        member = council_services.council_member_end(member=member, actor=request.user, reason=data["reason"])
        return Response(SeatOutput(member).data)


class VolunteerListApi(InstitutionScopedAPIView):
    required_roles = OVERSEERS

    @extend_schema(operation_id="council_volunteers_list", responses=VolunteerRowOutput(many=True))
    def get(self, request, institution_slug, council_id):
        """Who volunteers, in draw order, with their pseudonym (administrators, auditors)."""
        council = _council(request, council_id)
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.volunteers_of(council=council), request, view=self)
        return paginator.get_paginated_response(VolunteerRowOutput(page, many=True).data)


class VolunteerCountsApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="council_volunteers_counts", responses=VolunteerStratumCountOutput(many=True))
    def get(self, request, institution_slug, council_id):
        """How many people volunteer in each stratum (no names)."""
        council = _council(request, council_id)
        rows = [{"strata": labels, "volunteers": n} for labels, n in selectors.volunteer_counts(council=council)]
        return Response(VolunteerStratumCountOutput(rows, many=True).data)


class MyVolunteerApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @staticmethod
    def _mine(council, user) -> dict:
        mine = selectors.volunteer_of(council=council, user=user)
        active = mine is not None and mine.withdrawn_at is None
        return {
            "volunteering": active,
            "pseudonym": services.pseudonym(mine) if active else None,
            "strata": mine.strata if active else {},
        }

    @extend_schema(operation_id="council_volunteer_mine", responses=VolunteerMineOutput)
    def get(self, request, institution_slug, council_id):
        """Whether the caller volunteers for this council, and with which strata."""
        council = _council(request, council_id)
        return Response(VolunteerMineOutput(self._mine(council, request.user)).data)

    @extend_schema(operation_id="council_volunteer_offer", request=VolunteerOfferInput, responses=VolunteerMineOutput)
    def put(self, request, institution_slug, council_id):
        """Volunteer to be drawn by lot, or change one's strata (any member of the institution)."""
        council = _council(request, council_id)
        data = _parse(VolunteerOfferInput, request)
        services.council_volunteer(council=council, user=request.user, strata=data["strata"])
        return Response(VolunteerMineOutput(self._mine(council, request.user)).data)

    @extend_schema(operation_id="council_volunteer_withdraw", request=None, responses=VolunteerMineOutput)
    def delete(self, request, institution_slug, council_id):
        """Withdraw one's offer."""
        council = _council(request, council_id)
        services.council_volunteer_withdraw(council=council, user=request.user)
        return Response(VolunteerMineOutput(self._mine(council, request.user)).data)


class DrawListApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="council_draws_list", responses=DrawRecordOutput(many=True))
    def get(self, request, institution_slug, council_id):
        """The council's draws by lot, newest first, each re-run (`verified`)."""
        council = _council(request, council_id)
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.draws_of(council=council).select_related("institution"), request, view=self
        )
        return paginator.get_paginated_response(DrawRecordOutput(page, many=True).data)

    @extend_schema(operation_id="council_draws_create", request=DrawRequestInput, responses={201: DrawRecordOutput})
    def post(self, request, institution_slug, council_id):
        """Draw citizens by lot from the volunteers and seat them (administrators)."""
        _require_admin(request)
        council = _council(request, council_id)
        data = _parse(DrawRequestInput, request)
        record = services.council_draw(
            council=council,
            actor=request.user,
            seats=data["seats"],
            term_start=data["term_start"],
            term_end=data["term_end"],
            seed=data.get("seed") or None,
        )
        return created(DrawRecordOutput(record).data)


class DrawDetailApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="council_draws_read", responses=DrawRecordOutput)
    def get(self, request, institution_slug, council_id, draw_id):
        council = _council(request, council_id)
        return Response(DrawRecordOutput(selectors.draw_get(council=council, draw_id=draw_id)).data)


class PublicDrawApi(APIView):
    """Anyone re-runs a draw from its public record (pseudonyms and strata, never a name)."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(operation_id="council_draws_public", responses=DrawRecordOutput)
    def get(self, request, draw_id):
        return Response(DrawRecordOutput(selectors.public_draw_get(draw_id=draw_id)).data)


class ShareListApi(InstitutionScopedAPIView):
    required_roles = OVERSEERS

    @extend_schema(operation_id="council_shares_list", responses=CouncilShareOutput(many=True))
    def get(self, request, institution_slug, council_id):
        """The institutions this council serves or served (administrators, auditors)."""
        council = _council(request, council_id)
        shares = selectors.shares_of(institution=request.institution, council=council)
        return Response(CouncilShareOutput(shares, many=True).data)

    @extend_schema(
        operation_id="council_shares_propose", request=CouncilShareInput, responses={201: CouncilShareProposalOutput}
    )
    def post(self, request, institution_slug, council_id):
        """Propose sharing the council with another institution: a "share_council" threshold
        act, in effect once the policy's authorities, that institution among them, have signed."""
        _require_admin(request)
        council = _council(request, council_id)
        data = _parse(CouncilShareInput, request)
        proposal = services.council_share_propose(
            council=council, shared_with_slug=data["shared_with"], actor=request.user
        )
        return created(CouncilShareProposalOutput(proposal).data)


class SharedCouncilsApi(InstitutionScopedAPIView):
    required_roles = OVERSEERS

    @extend_schema(operation_id="council_shares_both_ways", responses=CouncilShareOutput(many=True))
    def get(self, request, institution_slug):
        """Shares this institution owns and shares naming it (administrators, auditors)."""
        ours = list(selectors.shares_of(institution=request.institution))
        theirs = list(selectors.councils_shared_with(institution=request.institution))
        return Response(CouncilShareOutput(ours + theirs, many=True).data)


class ShareEndApi(InstitutionScopedAPIView):
    required_roles = ADMINS

    @extend_schema(operation_id="council_shares_end", request=EndReasonInput, responses=CouncilShareOutput)
    def post(self, request, institution_slug, share_id):
        """End a share (an administrator of either institution)."""
        share = selectors.share_get(institution=request.institution, share_id=share_id)
        data = _parse(EndReasonInput, request)
        share = services.council_share_end(
            share=share, actor=request.user, reason=data["reason"], institution=request.institution
        )
        return Response(CouncilShareOutput(share).data)


COUNCILS = "institutions/<slug:institution_slug>/councils/"
COUNCIL = COUNCILS + "<int:council_id>/"

urlpatterns: list = [
    path(COUNCIL + "members/", MemberListApi.as_view(), name="api-council-members"),
    path(COUNCIL + "members/<int:member_id>/end/", MemberEndApi.as_view(), name="api-council-member-end"),
    path(COUNCIL + "volunteers/", VolunteerListApi.as_view(), name="api-council-volunteers"),
    path(COUNCIL + "volunteers/counts/", VolunteerCountsApi.as_view(), name="api-council-volunteer-counts"),
    path(COUNCIL + "volunteer/", MyVolunteerApi.as_view(), name="api-council-volunteer"),
    path(COUNCIL + "draws/", DrawListApi.as_view(), name="api-council-draws"),
    path(COUNCIL + "draws/<int:draw_id>/", DrawDetailApi.as_view(), name="api-council-draw"),
    path(COUNCIL + "shares/", ShareListApi.as_view(), name="api-council-shares"),
    path(COUNCILS + "shared/", SharedCouncilsApi.as_view(), name="api-councils-shared"),
    path(COUNCILS + "shared/<int:share_id>/end/", ShareEndApi.as_view(), name="api-council-share-end"),
    path("councils/draws/<int:draw_id>/", PublicDrawApi.as_view(), name="api-council-draw-public"),
]

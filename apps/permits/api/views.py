"""Permits over the API: types (any member reads, administrators write), applications (applicants and
integrators apply; the applicant sees their own, staff all), decisions, and permits with enforcement.
The same services and rules as the pages."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from apps.permits import selectors, services
from apps.permits.models import ApplicationStatus
from apps.tenancy.models import Role
from portal.api import ANY_MEMBER, InstitutionScopedAPIView, Pagination, created
from portal.errors import ValidationFailed

STATUS_HELP = "one of: " + ", ".join(ApplicationStatus.values)
STAFF = frozenset({Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN, Role.AUDITOR})


def _parse(serializer_class, request, **kwargs):
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- permit types ------------------------------------------------------------------------------


class FieldSpec(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.ChoiceField(choices=["text", "number", "boolean", "date", "choice"])
    required = serializers.BooleanField()
    choices = serializers.ListField(child=serializers.CharField())


class PermitTypeOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    fields = FieldSpec(many=True)
    attachments = serializers.ListField(child=serializers.CharField())
    fee_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    fee_currency = serializers.CharField()
    validity_days = serializers.IntegerField()
    cluster = serializers.IntegerField(source="cluster_id", allow_null=True)
    council = serializers.IntegerField(source="council_id", allow_null=True)
    process_key = serializers.CharField()
    conditions = serializers.ListField(child=serializers.CharField())
    inspection_cluster = serializers.IntegerField(source="inspection_cluster_id", allow_null=True)
    cure_days = serializers.IntegerField()
    active = serializers.BooleanField()


class PermitTypeInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=60)
    description = serializers.CharField(max_length=5000, allow_blank=True, required=False)
    fields = serializers.JSONField(required=False)
    attachments = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    fee_amount = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    fee_currency = serializers.CharField(max_length=3, required=False)
    validity_days = serializers.IntegerField(required=False)
    cluster = serializers.IntegerField(allow_null=True, required=False)
    council = serializers.IntegerField(allow_null=True, required=False)
    process_key = serializers.CharField(max_length=200, allow_blank=True, required=False)
    conditions = serializers.ListField(child=serializers.CharField(max_length=300), required=False)
    inspection_cluster = serializers.IntegerField(allow_null=True, required=False)
    cure_days = serializers.IntegerField(required=False)
    active = serializers.BooleanField(required=False)


def _type_arguments(request, data: dict) -> dict:
    from apps.agents.models import Cluster
    from apps.feedback.models import Council

    arguments = dict(data)
    for key, model in (("cluster", Cluster), ("council", Council), ("inspection_cluster", Cluster)):
        if key in arguments and arguments[key] is not None:
            found = model.all_institutions.filter(
                institution=request.institution, pk=arguments[key]
            ).first()  # tenancy: own
            if found is None:
                raise ValidationFailed(errors={key: [_("Choose one of this institution's own.")]})
            arguments[key] = found
    return arguments


def _require_admin(request) -> None:
    if not request.institution_roles & services.ADMIN_ROLES:
        raise exceptions.PermissionDenied(_("Only administrators manage permit types."))


class PermitTypeListApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="permit_types_list", responses=PermitTypeOutput(many=True))
    def get(self, request, institution_slug):
        """The institution's permit types (any member)."""
        paginator = Pagination()
        qs = selectors.permit_types_of_institution(institution=request.institution)
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(PermitTypeOutput(page, many=True).data)

    @extend_schema(operation_id="permit_types_create", request=PermitTypeInput, responses={201: PermitTypeOutput})
    def post(self, request, institution_slug):
        """Define a permit type (administrators)."""
        _require_admin(request)
        data = _type_arguments(request, _parse(PermitTypeInput, request))
        permit_type = services.permit_type_create(institution=request.institution, actor=request.user, **data)
        return created(PermitTypeOutput(permit_type).data)


class PermitTypeDetailApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="permit_types_retrieve", responses=PermitTypeOutput)
    def get(self, request, institution_slug, type_slug):
        return Response(
            PermitTypeOutput(selectors.permit_type_get(institution=request.institution, slug=type_slug)).data
        )

    @extend_schema(operation_id="permit_types_update", request=PermitTypeInput, responses=PermitTypeOutput)
    def patch(self, request, institution_slug, type_slug):
        """Change a permit type (administrators); only the settings given change."""
        _require_admin(request)
        permit_type = selectors.permit_type_get(institution=request.institution, slug=type_slug)
        data = _type_arguments(request, _parse(PermitTypeInput, request, partial=True))
        return Response(
            PermitTypeOutput(services.permit_type_update(permit_type=permit_type, actor=request.user, **data)).data
        )


# --- applications ------------------------------------------------------------------------------


class EventOutput(serializers.Serializer):
    status_from = serializers.CharField()
    status_to = serializers.CharField()
    reason = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class AttachmentOutput(serializers.Serializer):
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()


class ApplicationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    permit_type = serializers.CharField(source="permit_type.slug")
    applicant = serializers.CharField(source="applicant.username")
    status = serializers.CharField(help_text=STATUS_HELP)
    data = serializers.DictField()
    attachments = AttachmentOutput(many=True)
    agent_decision = serializers.CharField()
    cluster_run = serializers.IntegerField(source="cluster_run_id", allow_null=True)
    information_request = serializers.CharField()
    decision_reason = serializers.CharField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ApplicationDetailOutput(ApplicationOutput):
    timeline = serializers.SerializerMethodField()
    permit = serializers.SerializerMethodField()

    def get_timeline(self, application) -> list[dict]:
        return EventOutput(selectors.application_timeline(application=application), many=True).data

    def get_permit(self, application) -> int | None:
        permit = getattr(application, "permit", None) if application.status == ApplicationStatus.ISSUED else None
        return permit.pk if permit else None


class ApplicationInput(serializers.Serializer):
    permit_type = serializers.SlugField()
    data = serializers.JSONField(help_text="The answers, by field name, as the permit type's `fields` describe.")
    submit = serializers.BooleanField(default=True)


class ApplicationListApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="permit_applications_list",
        parameters=[OpenApiParameter("status", str, description="a status, or `queue` (waiting for a civil servant)")],
        responses=ApplicationOutput(many=True),
    )
    def get(self, request, institution_slug):
        """Staff see every application; anyone else their own."""
        if request.institution_roles & STAFF:
            qs = selectors.applications_of_institution(
                institution=request.institution, status=request.query_params.get("status", "")
            )
        else:
            qs = selectors.applications_of_applicant(institution=request.institution, user=request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ApplicationOutput(page, many=True).data)

    @extend_schema(
        operation_id="permit_applications_create", request=ApplicationInput, responses={201: ApplicationOutput}
    )
    def post(self, request, institution_slug):
        """Apply (citizens, integrators). JSON, or multipart with `data` as a JSON string and one file per
        required attachment, named after it."""
        data = _parse(ApplicationInput, request)
        permit_type = selectors.permit_type_get(institution=request.institution, slug=data["permit_type"])
        files = {name: upload for name, upload in request.FILES.items()}
        application = services.application_create(
            permit_type=permit_type, applicant=request.user, data=data["data"], files=files, submit=data["submit"]
        )
        return created(ApplicationOutput(application).data)


def _application(request, application_id: int):
    return selectors.application_visible_get(
        institution=request.institution,
        application_id=application_id,
        user=request.user,
        roles=request.institution_roles,
    )


class ApplicationDetailApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="permit_applications_retrieve", responses=ApplicationDetailOutput)
    def get(self, request, institution_slug, application_id):
        """Where the application is and why: its timeline of status changes with reasons."""
        return Response(ApplicationDetailOutput(_application(request, application_id)).data)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=services.REASON_MAX_CHARS, allow_blank=True, default="")


class DecideInput(ReasonInput):
    decision = serializers.ChoiceField(choices=["approve", "refuse"])


class QuestionInput(serializers.Serializer):
    question = serializers.CharField(max_length=services.REASON_MAX_CHARS)


class AnswerInput(serializers.Serializer):
    answer = serializers.CharField(max_length=services.REASON_MAX_CHARS)
    data = serializers.JSONField(required=False, default=dict)


class ApplicationSubmitApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="permit_applications_submit", request=None, responses=ApplicationOutput)
    def post(self, request, institution_slug, application_id):
        """The applicant submits a draft."""
        application = services.application_submit(application=_application(request, application_id), actor=request.user)
        return Response(ApplicationOutput(application).data)


class ApplicationWithdrawApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="permit_applications_withdraw", request=None, responses=ApplicationOutput)
    def post(self, request, institution_slug, application_id):
        """The applicant withdraws an open application."""
        application = services.application_withdraw(
            application=_application(request, application_id), actor=request.user
        )
        return Response(ApplicationOutput(application).data)


class ApplicationAnswerApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="permit_applications_answer", request=AnswerInput, responses=ApplicationOutput)
    def post(self, request, institution_slug, application_id):
        """The applicant answers a request for information (and may change answers)."""
        data = _parse(AnswerInput, request)
        application = services.application_answer(
            application=_application(request, application_id),
            actor=request.user,
            answer=data["answer"],
            data=data["data"],
        )
        return Response(ApplicationOutput(application).data)


class AppealInput(serializers.Serializer):
    grounds = serializers.CharField(max_length=5000)


class ApplicationAppealApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="permit_applications_appeal", request=AppealInput, responses=ApplicationOutput)
    def post(self, request, institution_slug, application_id):
        """The applicant appeals a refusal to the council (once)."""
        from apps.permits import review

        data = _parse(AppealInput, request)
        application = _application(request, application_id)
        review.application_appeal(application=application, person=request.user, grounds=data["grounds"])
        application.refresh_from_db()
        return Response(ApplicationOutput(application).data)


class ApplicationDecideApi(InstitutionScopedAPIView):
    required_roles = frozenset({Role.CIVIL_SERVANT})

    @extend_schema(operation_id="permit_applications_decide", request=DecideInput, responses=ApplicationOutput)
    def post(self, request, institution_slug, application_id):
        """A civil servant confirms or overturns (with a reason) the agents' proposal, or decides a case
        no cluster reviews."""
        data = _parse(DecideInput, request)
        application = selectors.application_get(institution=request.institution, application_id=application_id)
        application = services.application_decide(
            application=application, actor=request.user, approve=data["decision"] == "approve", reason=data["reason"]
        )
        return Response(ApplicationOutput(application).data)


class ApplicationRequestInformationApi(InstitutionScopedAPIView):
    required_roles = frozenset({Role.CIVIL_SERVANT})

    @extend_schema(
        operation_id="permit_applications_request_information", request=QuestionInput, responses=ApplicationOutput
    )
    def post(self, request, institution_slug, application_id):
        data = _parse(QuestionInput, request)
        application = selectors.application_get(institution=request.institution, application_id=application_id)
        application = services.application_request_information(
            application=application, actor=request.user, question=data["question"]
        )
        return Response(ApplicationOutput(application).data)


# --- permits -----------------------------------------------------------------------------------


class PermitOutput(serializers.Serializer):
    id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    permit_type = serializers.CharField(source="permit_type.slug")
    holder = serializers.CharField(source="holder.username")
    application = serializers.IntegerField(source="application_id")
    status = serializers.CharField()
    status_reason = serializers.CharField()
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    credential = serializers.UUIDField(source="credential.uuid")
    verify_url = serializers.SerializerMethodField()

    def get_verify_url(self, permit) -> str:
        from apps.identity.views import verify_url

        return verify_url(permit.credential.uuid)


class PermitDetailOutput(PermitOutput):
    document = serializers.JSONField(source="credential.document")


class PermitListApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="permits_list", responses=PermitOutput(many=True))
    def get(self, request, institution_slug):
        """Staff see every permit; anyone else the permits they hold."""
        holder = None if request.institution_roles & STAFF else request.user
        paginator = Pagination()
        qs = selectors.permits_of_institution(institution=request.institution, holder=holder)
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(PermitOutput(page, many=True).data)


class PermitDetailApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="permits_retrieve", responses=PermitDetailOutput)
    def get(self, request, institution_slug, permit_id):
        """The permit and its signed credential."""
        permit = selectors.permit_visible_get(
            institution=request.institution, permit_id=permit_id, user=request.user, roles=request.institution_roles
        )
        return Response(PermitDetailOutput(permit).data)


class RenewInput(serializers.Serializer):
    data = serializers.JSONField(
        required=False, default=dict, help_text="Answers to change, by field name; the others are the permit's."
    )


class PermitRenewApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(operation_id="permits_renew", request=RenewInput, responses={201: ApplicationOutput})
    def post(self, request, institution_slug, permit_id):
        """The holder renews an active or expired permit: a new application with the permit's answers and
        attachments, unless given anew (JSON, or multipart with `data` as a JSON string and the files named
        after their attachment). One renewal at a time; the new permit starts where this one ends."""
        data = _parse(RenewInput, request)
        permit = selectors.permit_visible_get(
            institution=request.institution, permit_id=permit_id, user=request.user, roles=request.institution_roles
        )
        files = {name: upload for name, upload in request.FILES.items()}
        application = services.application_renew(permit=permit, applicant=request.user, data=data["data"], files=files)
        return created(ApplicationOutput(application).data)


class PermitStatusInput(ReasonInput):
    action = serializers.ChoiceField(choices=["suspend", "reinstate", "revoke"])


_ENFORCEMENT = {
    "suspend": services.permit_suspend,
    "reinstate": services.permit_reinstate,
    "revoke": services.permit_revoke,
}


class PermitStatusApi(InstitutionScopedAPIView):
    required_roles = frozenset({Role.INSTITUTION_ADMIN})

    @extend_schema(operation_id="permits_status_change", request=PermitStatusInput, responses=PermitOutput)
    def post(self, request, institution_slug, permit_id):
        """Suspend, reinstate or revoke with a reason (administrators); the status list changes at once."""
        data = _parse(PermitStatusInput, request)
        permit = selectors.permit_get(institution=request.institution, permit_id=permit_id)
        permit = _ENFORCEMENT[data["action"]](permit=permit, actor=request.user, reason=data["reason"])
        return Response(PermitOutput(permit).data)

"""Inspections and violations over the API: staff read and schedule inspections, inspectors report,
holders read their permit's violations; the same services and rules as the pages (apps/permits/inspections.py)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.permits import inspections, selectors
from apps.permits.api.views import STAFF, _parse
from apps.permits.models import InspectionKind, InspectionStatus, ViolationStatus
from portal.api import ANY_MEMBER, InstitutionScopedAPIView, Pagination, created
from portal.errors import ValidationFailed


def _page(view, request, qs, output):
    paginator = Pagination()
    page = paginator.paginate_queryset(qs, request, view=view)
    return paginator.get_paginated_response(output(page, many=True).data)


class FindingOutput(serializers.Serializer):
    condition = serializers.CharField()
    met = serializers.BooleanField()
    note = serializers.CharField()


class InspectionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    permit = serializers.IntegerField(source="permit_id")
    kind = serializers.CharField()
    status = serializers.CharField()
    risk = serializers.CharField()
    risk_reason = serializers.CharField()
    risk_run = serializers.IntegerField(source="risk_run_id", allow_null=True)
    due_on = serializers.DateField(allow_null=True)
    inspector = serializers.IntegerField(source="inspector_id", allow_null=True)
    outcome = serializers.CharField()
    findings = FindingOutput(many=True)
    notes = serializers.CharField()
    completed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ViolationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    permit = serializers.IntegerField(source="permit_id")
    inspection = serializers.IntegerField(source="inspection_id", allow_null=True)
    condition = serializers.CharField()
    description = serializers.CharField()
    cure_by = serializers.DateField()
    status = serializers.CharField()
    resolution = serializers.CharField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class InspectionScheduleInput(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[InspectionKind.ROUTINE, InspectionKind.FOLLOW_UP], default=InspectionKind.ROUTINE
    )


class InspectionAssignInput(serializers.Serializer):
    inspector = serializers.IntegerField(required=False, help_text="a civil servant's user id; omitted: yourself")


class InspectionReportInput(serializers.Serializer):
    # checked by the service (every condition answered, a note for each unmet one), as the page's form is
    findings = serializers.ListField(
        child=serializers.DictField(), help_text="one {condition, met, note} per condition"
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class InspectionReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=inspections.NOTE_MAX_CHARS, allow_blank=True, default="")


# --- inspections ------------------------------------------------------------------------------------


class PermitInspectionsApi(InstitutionScopedAPIView):
    required_roles = STAFF

    @extend_schema(operation_id="permits_inspections_list", responses=InspectionOutput(many=True))
    def get(self, request, institution_slug, permit_id):
        """A permit's inspections, newest first (staff)."""
        permit = selectors.permit_get(institution=request.institution, permit_id=permit_id)
        return _page(self, request, inspections.inspections_of_permit(permit=permit), InspectionOutput)

    @extend_schema(
        operation_id="permits_inspections_create", request=InspectionScheduleInput, responses={201: InspectionOutput}
    )
    def post(self, request, institution_slug, permit_id):
        """Schedule an inspection (civil servants, administrators): rated for risk by the type's agents."""
        data = _parse(InspectionScheduleInput, request)
        permit = selectors.permit_get(institution=request.institution, permit_id=permit_id)
        inspection = inspections.inspection_schedule(permit=permit, kind=data["kind"], actor=request.user)
        return created(InspectionOutput(inspection).data)


class InspectionListApi(InstitutionScopedAPIView):
    required_roles = STAFF

    @extend_schema(
        operation_id="permits_inspections_all",
        parameters=[
            OpenApiParameter("status", str, description="one of: " + ", ".join(InspectionStatus.values)),
            OpenApiParameter("mine", bool, description="only the inspections assigned to you"),
        ],
        responses=InspectionOutput(many=True),
    )
    def get(self, request, institution_slug):
        """Every inspection of the institution, soonest due first (staff)."""
        status = request.query_params.get("status", "")
        if status and status not in InspectionStatus.values:
            raise ValidationFailed(errors={"status": ["Unknown status."]})
        mine = request.query_params.get("mine", "") in {"1", "true", "yes"}
        qs = inspections.inspections_of_institution(
            institution=request.institution, status=status, inspector=request.user if mine else None
        )
        return _page(self, request, qs, InspectionOutput)


class InspectionDetailApi(InstitutionScopedAPIView):
    required_roles = STAFF

    @extend_schema(operation_id="permits_inspections_retrieve", responses=InspectionOutput)
    def get(self, request, institution_slug, inspection_id):
        """One inspection with its findings."""
        inspection = inspections.inspection_get(institution=request.institution, inspection_id=inspection_id)
        return Response(InspectionOutput(inspection).data)


class InspectionAssignApi(InstitutionScopedAPIView):
    required_roles = inspections.SCHEDULER_ROLES

    @extend_schema(operation_id="permits_inspections_assign", request=InspectionAssignInput, responses=InspectionOutput)
    def post(self, request, institution_slug, inspection_id):
        """A civil servant takes the inspection; an administrator assigns it to a civil servant."""
        data = _parse(InspectionAssignInput, request)
        inspection = inspections.inspection_get(institution=request.institution, inspection_id=inspection_id)
        inspector = request.user
        if "inspector" in data:
            inspector = get_user_model().objects.filter(pk=data["inspector"]).first()
        inspection = inspections.inspection_assign(inspection=inspection, actor=request.user, inspector=inspector)
        return Response(InspectionOutput(inspection).data)


class InspectionReportApi(InstitutionScopedAPIView):
    required_roles = inspections.INSPECTOR_ROLES

    @extend_schema(operation_id="permits_inspections_report", request=InspectionReportInput, responses=InspectionOutput)
    def post(self, request, institution_slug, inspection_id):
        """File the report: every condition met or not, a note for each unmet one (which becomes a violation)."""
        data = _parse(InspectionReportInput, request)
        inspection = inspections.inspection_get(institution=request.institution, inspection_id=inspection_id)
        inspection = inspections.inspection_report(
            inspection=inspection, actor=request.user, findings=data["findings"], notes=data["notes"]
        )
        return Response(InspectionOutput(inspection).data)


class InspectionCancelApi(InstitutionScopedAPIView):
    required_roles = inspections.SCHEDULER_ROLES

    @extend_schema(operation_id="permits_inspections_cancel", request=InspectionReasonInput, responses=InspectionOutput)
    def post(self, request, institution_slug, inspection_id):
        """Cancel an inspection not yet done, with a reason."""
        data = _parse(InspectionReasonInput, request)
        inspection = inspections.inspection_get(institution=request.institution, inspection_id=inspection_id)
        inspection = inspections.inspection_cancel(inspection=inspection, actor=request.user, reason=data["reason"])
        return Response(InspectionOutput(inspection).data)


# --- violations ------------------------------------------------------------------------------------


class PermitViolationsApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(operation_id="permits_violations_list", responses=ViolationOutput(many=True))
    def get(self, request, institution_slug, permit_id):
        """A permit's violations with their deadlines: its holder and the staff read them."""
        permit = selectors.permit_visible_get(
            institution=request.institution, permit_id=permit_id, user=request.user, roles=request.institution_roles
        )
        return _page(self, request, inspections.violations_of_permit(permit=permit), ViolationOutput)


class ViolationListApi(InstitutionScopedAPIView):
    required_roles = STAFF

    @extend_schema(
        operation_id="permits_violations_all",
        parameters=[OpenApiParameter("status", str, description="one of: " + ", ".join(ViolationStatus.values))],
        responses=ViolationOutput(many=True),
    )
    def get(self, request, institution_slug):
        """Every violation of the institution, soonest deadline first (staff)."""
        status = request.query_params.get("status", "")
        if status and status not in ViolationStatus.values:
            raise ValidationFailed(errors={"status": ["Unknown status."]})
        qs = inspections.violations_of_institution(institution=request.institution, status=status)
        return _page(self, request, qs, ViolationOutput)


class ViolationCureApi(InstitutionScopedAPIView):
    required_roles = inspections.INSPECTOR_ROLES

    @extend_schema(operation_id="permits_violations_cure", request=InspectionReasonInput, responses=ViolationOutput)
    def post(self, request, institution_slug, violation_id):
        """Confirm the holder cured the violation (`reason`: how); the last overdue one lifts its suspension."""
        data = _parse(InspectionReasonInput, request)
        violation = inspections.violation_get(institution=request.institution, violation_id=violation_id)
        violation = inspections.violation_cure(violation=violation, actor=request.user, resolution=data["reason"])
        return Response(ViolationOutput(violation).data)


class ViolationWaiveApi(InstitutionScopedAPIView):
    required_roles = inspections.WAIVER_ROLES

    @extend_schema(operation_id="permits_violations_waive", request=InspectionReasonInput, responses=ViolationOutput)
    def post(self, request, institution_slug, violation_id):
        """Waive the violation with a reason (administrators)."""
        data = _parse(InspectionReasonInput, request)
        violation = inspections.violation_get(institution=request.institution, violation_id=violation_id)
        violation = inspections.violation_waive(violation=violation, actor=request.user, reason=data["reason"])
        return Response(ViolationOutput(violation).data)

"""The BPM engine over the API, under /api/v1/institutions/{slug}/bpm/.

Civil servants, administrators and auditors read definitions and instances; administrators
upload BPMN files; civil servants and administrators start instances and work the queue
(each sees the queues of the roles they hold; administrators see all and reassign).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from apps.bpm import selectors, services
from apps.bpm.models import InstanceStatus
from apps.bpm.parsing import MAX_FILE_BYTES
from apps.tenancy.models import Role
from portal.api import InstitutionScopedAPIView, Pagination, created
from portal.errors import Conflict, ValidationFailed

READERS = frozenset({Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN, Role.AUDITOR})
WORKERS = frozenset({Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN})


def _parse(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class VersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    file_name = serializers.CharField()
    sha256 = serializers.CharField()
    uploaded_by = serializers.CharField(source="uploaded_by.username", allow_null=True, default=None)
    uploaded_at = serializers.DateTimeField()


class DefinitionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()


class DefinitionDetailOutput(DefinitionOutput):
    versions = serializers.SerializerMethodField()

    def get_versions(self, definition) -> list[dict]:
        return VersionOutput(selectors.versions_of(definition=definition), many=True).data


class UploadInput(serializers.Serializer):
    file = serializers.FileField(help_text=f"A BPMN 2.0 XML file of at most {MAX_FILE_BYTES} bytes.")


class DefinitionListApi(InstitutionScopedAPIView):
    required_roles = READERS
    # JSON too: a JSON body is refused by the membership check or the serializer, not with 415
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(operation_id="bpm_definitions_list", responses=DefinitionOutput(many=True))
    def get(self, request, institution_slug):
        """The institution's process definitions."""
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.definitions_of(institution=request.institution), request, self)
        return paginator.get_paginated_response(DefinitionOutput(page, many=True).data)

    @extend_schema(
        operation_id="bpm_definitions_upload",
        request={"multipart/form-data": UploadInput},
        responses={201: DefinitionDetailOutput},
    )
    def post(self, request, institution_slug):
        """Upload a BPMN file (administrators): a new process, or the next version of the one with its process id."""
        upload = _parse(UploadInput, request)["file"]
        if upload.size > MAX_FILE_BYTES:
            raise ValidationFailed(
                _("The file is larger than %(n)d bytes.") % {"n": MAX_FILE_BYTES}, errors={"file": ["too large"]}
            )
        version = services.definition_upload(
            institution=request.institution, actor=request.user, file_name=upload.name, content=upload.read()
        )
        return created(DefinitionDetailOutput(version.definition).data)


class DefinitionDetailApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(operation_id="bpm_definitions_retrieve", responses=DefinitionDetailOutput)
    def get(self, request, institution_slug, definition_id):
        definition = selectors.definition_get(institution=request.institution, definition_id=definition_id)
        return Response(DefinitionDetailOutput(definition).data)


class EventOutput(serializers.Serializer):
    action = serializers.CharField()
    element_id = serializers.CharField()
    element_name = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    details = serializers.JSONField()
    at = serializers.DateTimeField()


class WorkItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    instance = serializers.IntegerField(source="instance_id")
    element_id = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField()
    status = serializers.CharField()
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)
    form = serializers.JSONField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class InstanceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    definition = serializers.IntegerField(source="version.definition_id")
    definition_key = serializers.CharField(source="version.definition.key")
    version = serializers.IntegerField(source="version.number")
    status = serializers.CharField()
    revision = serializers.IntegerField()
    active_elements = serializers.ListField(child=serializers.CharField())
    next_timer_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField()
    started_by = serializers.CharField(source="started_by.username", allow_null=True, default=None)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class InstanceDetailOutput(InstanceOutput):
    events = serializers.SerializerMethodField()
    work_items = serializers.SerializerMethodField()

    def get_events(self, instance) -> list[dict]:
        return EventOutput(selectors.events_of(instance=instance), many=True).data

    def get_work_items(self, instance) -> list[dict]:
        return WorkItemOutput(selectors.work_items_of(instance=instance), many=True).data


class StartInput(serializers.Serializer):
    data = serializers.JSONField(required=False, default=dict)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="A version number; the latest by default."
    )


class DefinitionStartApi(InstitutionScopedAPIView):
    required_roles = WORKERS

    @extend_schema(operation_id="bpm_instances_start", request=StartInput, responses={201: InstanceDetailOutput})
    def post(self, request, institution_slug, definition_id):
        """Start an instance of the latest version (or the given one) with its data."""
        definition = selectors.definition_get(institution=request.institution, definition_id=definition_id)
        data = _parse(StartInput, request)
        version = None
        if data.get("version"):
            version = selectors.version_get(definition=definition, number=data["version"])
        instance = services.instance_start(
            definition=definition, actor=request.user, data=data.get("data"), version=version
        )
        return created(
            InstanceDetailOutput(selectors.instance_get(institution=request.institution, instance_id=instance.pk)).data
        )


STATUS = OpenApiParameter("status", str, enum=InstanceStatus.values, description="Only instances in this status.")


class InstanceListApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(operation_id="bpm_instances_list", parameters=[STATUS], responses=InstanceOutput(many=True))
    def get(self, request, institution_slug):
        status = request.query_params.get("status", "")
        if status and status not in InstanceStatus.values:
            raise ValidationFailed(errors={"status": [_("Choose running, completed or failed.")]})
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.instances_of(institution=request.institution, status=status), request, self
        )
        return paginator.get_paginated_response(InstanceOutput(page, many=True).data)


class InstanceDetailApi(InstitutionScopedAPIView):
    required_roles = READERS

    @extend_schema(operation_id="bpm_instances_retrieve", responses=InstanceDetailOutput)
    def get(self, request, institution_slug, instance_id):
        """An instance with its history (every step) and its user tasks."""
        return Response(
            InstanceDetailOutput(selectors.instance_get(institution=request.institution, instance_id=instance_id)).data
        )


class MigrateInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The number of a newer version of the same process.")


class InstanceMigrateApi(InstitutionScopedAPIView):
    required_roles = frozenset({Role.INSTITUTION_ADMIN})

    @extend_schema(operation_id="bpm_instances_migrate", request=MigrateInput, responses=InstanceDetailOutput)
    def post(self, request, institution_slug, instance_id):
        """Move a running instance to a newer version, when the change allows it (409 with the reasons otherwise)."""
        instance = selectors.instance_get(institution=request.institution, instance_id=instance_id)
        number = _parse(MigrateInput, request)["version"]
        version = selectors.version_get(definition=instance.version.definition, number=number)
        services.instance_migrate(instance=instance, version=version, actor=request.user)
        return Response(
            InstanceDetailOutput(selectors.instance_get(institution=request.institution, instance_id=instance.pk)).data
        )


class QueueApi(InstitutionScopedAPIView):
    required_roles = WORKERS

    @extend_schema(operation_id="bpm_tasks_list", responses=WorkItemOutput(many=True))
    def get(self, request, institution_slug):
        """The open user tasks of the caller's roles (all of them for administrators)."""
        paginator = Pagination()
        items = selectors.queue(institution=request.institution, roles=request.institution_roles)
        page = paginator.paginate_queryset(items, request, self)
        return paginator.get_paginated_response(WorkItemOutput(page, many=True).data)


def _item(request, work_item_id):
    item = selectors.work_item_get(institution=request.institution, work_item_id=work_item_id)
    roles = request.institution_roles
    if Role.INSTITUTION_ADMIN not in roles and item.role not in roles:
        from django.http import Http404

        raise Http404  # another role's queue is not the caller's to read
    return item


class WorkItemApi(InstitutionScopedAPIView):
    required_roles = WORKERS

    @extend_schema(operation_id="bpm_tasks_retrieve", responses=WorkItemOutput)
    def get(self, request, institution_slug, work_item_id):
        return Response(WorkItemOutput(_item(request, work_item_id)).data)


class WorkItemClaimApi(InstitutionScopedAPIView):
    required_roles = WORKERS

    @extend_schema(operation_id="bpm_tasks_claim", request=None, responses=WorkItemOutput)
    def post(self, request, institution_slug, work_item_id):
        """Claim a task of one's queue."""
        return Response(
            WorkItemOutput(services.work_item_claim(item=_item(request, work_item_id), actor=request.user)).data
        )


class CompleteInput(serializers.Serializer):
    values = serializers.JSONField(default=dict, help_text="The task's form values, by field name.")
    revision = serializers.IntegerField(
        required=False, min_value=0, help_text="The instance's revision as read; a stale one is refused with 409."
    )


class WorkItemCompleteApi(InstitutionScopedAPIView):
    required_roles = WORKERS

    @extend_schema(operation_id="bpm_tasks_complete", request=CompleteInput, responses=WorkItemOutput)
    def post(self, request, institution_slug, work_item_id):
        """Complete a task with its form's values; the instance goes on."""
        item = _item(request, work_item_id)
        data = _parse(CompleteInput, request)
        instance = selectors.instance_get(institution=request.institution, instance_id=item.instance_id)
        if "revision" in data and data["revision"] != instance.revision:
            raise Conflict(_("The process instance was changed by someone else meanwhile; reload it and try again."))
        item = services.work_item_complete(item=item, actor=request.user, values=data["values"], instance=instance)
        return Response(WorkItemOutput(item).data)


class ReassignInput(serializers.Serializer):
    assignee = serializers.CharField(max_length=150, help_text="The username of a member who holds the task's role.")


class WorkItemReassignApi(InstitutionScopedAPIView):
    required_roles = frozenset({Role.INSTITUTION_ADMIN})

    @extend_schema(operation_id="bpm_tasks_reassign", request=ReassignInput, responses=WorkItemOutput)
    def post(self, request, institution_slug, work_item_id):
        """Give a task to another member (administrators)."""
        item = _item(request, work_item_id)
        username = _parse(ReassignInput, request)["assignee"]
        assignee = get_user_model().objects.filter(username=username).first()
        return Response(
            WorkItemOutput(services.work_item_reassign(item=item, actor=request.user, assignee=assignee)).data
        )

from django.contrib import admin

from apps.bpm.models import InstanceEvent, ProcessDefinition, ProcessInstance, ProcessVersion, ServiceCall, WorkItem
from portal.admin import ReadOnlyAdmin


class NodeWideAdmin(ReadOnlyAdmin):
    list_select_related = ["institution"]

    def get_queryset(self, request):
        # tenancy: node operators see every institution's rows here, read-only
        return self.model.all_institutions.select_related("institution")

    def get_readonly_fields(self, request, obj=None):
        # no form fields at all: a foreign key's choices would query another tenant-owned table
        return [f.name for f in self.model._meta.fields if f.name not in (self.exclude or [])]


class ProcessVersionAdmin(NodeWideAdmin):
    list_display = ["definition", "number", "institution", "sha256", "uploaded_at"]
    exclude = ["content", "spec"]  # large; the pages serve the file


class ProcessInstanceAdmin(NodeWideAdmin):
    list_display = ["pk", "version", "institution", "status", "revision", "started_at"]
    list_filter = ["status"]
    exclude = ["state"]


admin.site.register(ProcessVersion, ProcessVersionAdmin)
admin.site.register(ProcessInstance, ProcessInstanceAdmin)
for model in (ProcessDefinition, InstanceEvent, WorkItem, ServiceCall):
    admin.site.register(model, NodeWideAdmin)

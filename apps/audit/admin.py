from django.contrib import admin

from apps.audit.models import AuditEvent, SignedTreeHead
from portal.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "created_at", "institution", "actor_label", "action", "target_type", "target_id"]
    list_filter = ["action", "institution"]
    search_fields = ["action", "actor_label", "target_id"]
    list_select_related = ["institution"]


@admin.register(SignedTreeHead)
class SignedTreeHeadAdmin(ReadOnlyAdmin):
    list_display = ["tree_size", "root_hash", "timestamp", "key"]

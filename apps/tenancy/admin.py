from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from apps.tenancy.models import Institution, Membership
from portal.admin import ReadOnlyAdmin


@admin.register(Institution)
class InstitutionAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    list_display = ["name", "slug", "kind", "did", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "slug"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    list_display = ["user", "institution", "role", "granted_at"]
    list_filter = ["role", "institution"]
    search_fields = ["user__username", "institution__slug"]
    list_select_related = ["user", "institution"]

from django.contrib import admin

from apps.notifications.models import Notification
from portal.admin import ReadOnlyAdmin


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["title", "recipient", "institution", "created_at", "read_at"]
    list_select_related = ["recipient", "institution"]

    def get_queryset(self, request):
        # tenancy: node operators see every institution's notifications here
        return Notification.all_institutions.select_related("recipient", "institution")

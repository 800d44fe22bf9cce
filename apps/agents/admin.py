from django.contrib import admin

from apps.agents.models import Agent
from portal.admin import ReadOnlyAdmin


@admin.register(Agent)
class AgentAdmin(ReadOnlyAdmin):
    list_display = ["name", "institution", "status", "engine", "version", "did"]
    list_filter = ["status", "engine"]
    list_select_related = ["institution"]

    def get_queryset(self, request):
        # tenancy: node operators see every institution's agents here
        return Agent.all_institutions.select_related("institution")

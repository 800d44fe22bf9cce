from django.contrib import admin

from apps.permits.models import ApplicationEvent, Permit, PermitApplication, PermitType
from portal.admin import ReadOnlyAdmin

for model in (PermitType, PermitApplication, ApplicationEvent, Permit):
    admin.site.register(model, ReadOnlyAdmin)

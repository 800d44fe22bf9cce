"""What the Django admin shares: it is a read-only window for node operators.

Every write in Civitas goes through a service that validates and audits it; the admin
would bypass both, so governance models are registered read-only.
"""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

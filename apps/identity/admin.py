from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.identity.models import SigningKey, User
from portal.admin import ReadOnlyAdmin


@admin.register(User)
class UserAdmin(ReadOnlyAdmin, DjangoUserAdmin):
    list_display = ["username", "email", "display_name", "is_active", "is_staff", "date_joined"]
    fieldsets = [
        (None, {"fields": ["username", "email", "display_name", "did"]}),
        ("Status", {"fields": ["is_active", "is_staff", "is_superuser", "last_login", "date_joined"]}),
    ]


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "owner_type", "owner_id", "status", "created_at", "retired_at"]
    list_filter = ["owner_type", "status"]
    # The encrypted private key is never shown, not even sealed.
    fields = ["key_id", "owner_type", "owner_id", "algorithm", "status", "created_at", "retired_at"]

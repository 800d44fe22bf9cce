"""Read-only admin views for node operators: envelopes are signed records, never edited by hand."""

from django.contrib import admin

from apps.federation.models import DeliveryAttempt, InboxEnvelope, OutboxEnvelope


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboxEnvelope)
class OutboxEnvelopeAdmin(ReadOnlyAdmin):
    list_display = ("envelope_id", "institution", "type", "recipient_did", "route", "status", "attempts", "created_at")
    list_filter = ("status", "route", "type")
    search_fields = ("envelope_id", "recipient_did")


@admin.register(InboxEnvelope)
class InboxEnvelopeAdmin(ReadOnlyAdmin):
    list_display = ("envelope_id", "institution", "type", "sender_did", "received_at")
    list_filter = ("type",)
    search_fields = ("envelope_id", "sender_did")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("envelope", "number", "outcome", "status_code", "attempted_at")
    list_filter = ("outcome",)

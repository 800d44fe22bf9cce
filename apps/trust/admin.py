from django.contrib import admin

from apps.trust.models import KeyCeremony, ThresholdPolicy, ThresholdProposal, ThresholdSignature
from portal.admin import ReadOnlyAdmin


@admin.register(ThresholdPolicy)
class ThresholdPolicyAdmin(ReadOnlyAdmin):
    list_display = ["name", "act_type", "k", "created_at"]


@admin.register(ThresholdProposal)
class ThresholdProposalAdmin(ReadOnlyAdmin):
    list_display = ["uid", "act_type", "institution", "status", "created_at", "expires_at"]
    list_filter = ["status", "act_type"]
    list_select_related = ["institution"]

    def get_queryset(self, request):
        # tenancy: node operators see every institution's proposals here
        return ThresholdProposal.all_institutions.select_related("institution")


@admin.register(ThresholdSignature)
class ThresholdSignatureAdmin(ReadOnlyAdmin):
    list_display = ["proposal", "authority", "key_id", "created_at"]
    list_select_related = ["authority"]


@admin.register(KeyCeremony)
class KeyCeremonyAdmin(ReadOnlyAdmin):
    list_display = ["uid", "key_id", "k", "n", "conducted_by", "created_at"]

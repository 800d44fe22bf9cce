"""A council shared with another institution by threshold approval (imported by apps.feedback.models)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.tenancy.models import Institution, InstitutionOwned


class CouncilShare(InstitutionOwned):
    """The owner's council also serves `shared_with`, from the approval of a "share_council" act.

    The row is the owner's (`institution`); the institution it serves reads it through
    `membership.selectors.councils_shared_with`, which crosses institutions on purpose."""

    council = models.ForeignKey("feedback.Council", on_delete=models.CASCADE, related_name="shares")
    shared_with = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", verbose_name=_("shared with")
    )
    proposal_uid = models.UUIDField(_("threshold proposal"))
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)

    class Meta:
        app_label = "feedback"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["council", "shared_with"],
                condition=models.Q(ended_at__isnull=True),
                name="councilshare_one_active",
            )
        ]
        verbose_name = _("shared council")
        verbose_name_plural = _("shared councils")

    def __str__(self) -> str:
        return f"council {self.council_id} shared with {self.shared_with_id}"

"""Integrator clients: DOT applications bound to one institution."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.tenancy.models import InstitutionOwned


class IntegratorClient(InstitutionOwned):
    """An OAuth2 client of one institution.

    A side table rather than a swapped `OAUTH2_PROVIDER_APPLICATION_MODEL`: swapping must
    happen before DOT's first migration and ties every DOT upgrade to our model.
    """

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="integrator_client"
    )
    # Scopes the institution allows this client to ask for, space-separated.
    allowed_scopes = models.TextField(_("allowed scopes"))
    # The account a client-credentials client acts as: an `integrator` member of the institution.
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="integrator_client",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("integrator client")
        verbose_name_plural = _("integrator clients")

    def __str__(self) -> str:
        return f"{self.application.name} ({self.application.client_id})"

    @property
    def scopes(self) -> list[str]:
        return self.allowed_scopes.split()

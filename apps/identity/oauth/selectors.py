"""Reads of integrator clients."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.identity.oauth.models import IntegratorClient


def integrator_for_application(application) -> IntegratorClient | None:
    """The integrator client of a DOT application, or None when it has none.

    tenancy: token checks run before any institution is in scope; the binding itself is
    what they check, so they read across institutions."""
    if application is None:
        return None
    return (
        IntegratorClient.all_institutions.select_related("institution", "service_user", "application")
        .filter(application_id=application.pk)
        .first()
    )


def integrator_clients_of(*, institution) -> QuerySet[IntegratorClient]:
    return (
        IntegratorClient.all_institutions.filter(institution=institution)
        .select_related("application", "created_by", "service_user")
        .order_by("application__name", "pk")
    )


def integrator_client_get(*, institution, integrator_id: int) -> IntegratorClient:
    """Raises: Http404 when the client is not this institution's."""
    client = integrator_clients_of(institution=institution).filter(pk=integrator_id).first()
    if client is None:
        raise Http404
    return client

"""Reads of credentials, always through the institution (the public verify page says why it does not)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.identity.models import Credential


def credentials_of_institution(*, institution, status: str = "") -> QuerySet[Credential]:
    qs = Credential.objects.filter(institution=institution)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def credential_get(*, institution, credential_id) -> Credential:
    """Raises: Http404 unless the credential is this institution's."""
    credential = Credential.objects.filter(institution=institution, uuid=credential_id).first()
    if credential is None:
        raise Http404
    return credential


def credential_public_document(*, credential_id) -> dict | None:
    """The signed document of a credential stored on this node, by its unguessable id.

    The id travels in the holder's QR code: whoever has it may verify the credential,
    as whoever holds the paper may read it."""
    credential = (
        Credential.all_institutions.filter(uuid=credential_id)  # tenancy: public verification by capability id
        .only("document")
        .first()
    )
    return credential.document if credential else None

"""Shared by the residence and wallet tests: uploads, and a residence proved end to end."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.identity.residence.services import residence_request_approve, residence_request_submit
from apps.tenancy.scope import institution_scope

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads go to a directory of the test's own, checked for leftovers."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media_root) -> list:
    return sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []


def upload(content: bytes = PNG, name: str = "lease.png", content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def submit(applicant, municipality, **overrides):
    values = {"address_line1": "12 Harbour Road", "postcode": "4021", "city": "Aurelia", **overrides}
    return residence_request_submit(applicant=applicant, municipality=municipality, **values)


def prove_residence(applicant, municipality, approver):
    """Apply and have it approved: returns the approved request (its credential is in the wallet)."""
    residence_request = submit(applicant, municipality)
    with institution_scope(municipality):
        return residence_request_approve(residence_request=residence_request, actor=approver)

"""The supporting document of a residence request: PDF, PNG or JPEG by its first bytes, at most 5 MB."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.utils.translation import gettext as _

from portal.errors import ValidationFailed

DOCUMENT_MAX_BYTES = 5 * 1024 * 1024
DOCUMENT_DIR = "residence"


@dataclass(frozen=True)
class DocumentKind:
    magic: bytes
    content_type: str
    extension: str


# Decided by the content, never by the name or the browser's Content-Type, which the sender chooses.
DOCUMENT_KINDS = (
    DocumentKind(b"%PDF-", "application/pdf", ".pdf"),
    DocumentKind(b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    DocumentKind(b"\xff\xd8\xff", "image/jpeg", ".jpg"),
)


def document_kind(upload) -> DocumentKind:
    """The kind of an uploaded file, from its size and magic bytes.

    Raises: ValidationFailed (field `document`) when it is too large, empty, or not PDF/PNG/JPEG."""
    if upload.size > DOCUMENT_MAX_BYTES:
        raise ValidationFailed(
            errors={"document": [_("The document is larger than %(mb)s MB.") % {"mb": DOCUMENT_MAX_BYTES // 2**20}]}
        )
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    for kind in DOCUMENT_KINDS:
        if head.startswith(kind.magic):
            return kind
    raise ValidationFailed(errors={"document": [_("Upload a PDF, PNG or JPEG file.")]})


def document_store(upload, kind: DocumentKind) -> str:
    """Save the file under MEDIA_ROOT with a random name (never the sender's); returns the stored name."""
    return default_storage.save(f"{DOCUMENT_DIR}/{uuid.uuid4().hex}{kind.extension}", upload)


def document_delete(name: str) -> None:
    if name:
        default_storage.delete(name)


def document_open(name: str):
    """Raises: FileNotFoundError."""
    return default_storage.open(name, "rb")

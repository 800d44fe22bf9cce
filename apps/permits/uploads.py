"""Attachments of permit applications: kind decided by the first bytes, size-limited, stored under random names."""

from __future__ import annotations

import uuid

from django.core.files.storage import default_storage
from django.utils.translation import gettext as _

from apps.identity.residence.uploads import DOCUMENT_KINDS, DocumentKind
from portal.errors import ValidationFailed

ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024
ATTACHMENT_DIR = "permits"


def attachment_kind(*, name: str, upload) -> DocumentKind:
    """Raises: ValidationFailed (keyed by the attachment's name)."""
    size = getattr(upload, "size", None)
    if not size:
        raise ValidationFailed(errors={name: [_("The file is empty.")]})
    if size > ATTACHMENT_MAX_BYTES:
        raise ValidationFailed(
            errors={name: [_("The file is larger than %(mb)s MB.") % {"mb": ATTACHMENT_MAX_BYTES // 2**20}]}
        )
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    for kind in DOCUMENT_KINDS:
        if head.startswith(kind.magic):
            return kind
    raise ValidationFailed(errors={name: [_("Upload a PDF, PNG or JPEG file.")]})


def attachment_store(upload, kind: DocumentKind) -> str:
    return default_storage.save(f"{ATTACHMENT_DIR}/{uuid.uuid4().hex}{kind.extension}", upload)


def attachment_delete(name: str) -> None:
    if name:
        default_storage.delete(name)


def attachment_open(name: str):
    """Raises: FileNotFoundError."""
    return default_storage.open(name, "rb")

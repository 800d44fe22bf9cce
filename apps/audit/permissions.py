"""Who may read an institution's audit log: its auditors and its administrators."""

from __future__ import annotations

from collections.abc import Iterable

from apps.tenancy.models import Role

AUDIT_READERS = frozenset({Role.AUDITOR, Role.INSTITUTION_ADMIN})


def can_read_audit_log(*, roles: Iterable[str]) -> bool:
    return bool(AUDIT_READERS & set(roles))

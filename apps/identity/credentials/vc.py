"""Shared vocabulary of the VC Data Model 2.0 as this node writes it."""

from __future__ import annotations

from datetime import UTC, datetime

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"


def xsd_datetime(moment: datetime) -> str:
    """An XML Schema dateTimeStamp in UTC with second precision: 2026-01-01T00:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value) -> datetime | None:
    """A dateTimeStamp as an aware datetime; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def issuer_id(document: dict):
    issuer = document.get("issuer")
    return issuer.get("id") if isinstance(issuer, dict) else issuer

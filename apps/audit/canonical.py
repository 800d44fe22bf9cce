"""Canonical bytes of log entries and object states, so digests are reproducible."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


def to_json_value(value: Any) -> Any:
    """Plain JSON types only: dates, decimals, UUIDs become strings; bytes become hex."""
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def instance_state(instance: models.Model) -> dict[str, Any]:
    return {f.attname: to_json_value(getattr(instance, f.attname)) for f in instance._meta.concrete_fields}


def instance_digest(instance: models.Model | None) -> str:
    """SHA-256 (hex) of an object's stored state; of nothing, the hash of `null`."""
    state = instance_state(instance) if instance is not None else None
    return hashlib.sha256(canonical_json(state)).hexdigest()

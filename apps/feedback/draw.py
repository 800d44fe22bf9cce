"""Stratified sortition, pure and deterministic: "civitas-draw/1".

Anyone can re-run a recorded draw from what the record holds (the seed, the candidates in
order with their strata, the strata fields and the number of seats) and must get the same
quotas and the same people. No database, no clock, no Python `random` (whose algorithms
may change between versions): only SHA-256, so the draw can be re-implemented in any
language from this description.

The algorithm "civitas-draw/1":

1. Refuse a draw with fewer than one seat, more seats than candidates, or two candidates
   with the same reference.
2. Each candidate's stratum key is the JSON array of its values for the strata fields, in
   the order of the fields, compact and UTF-8 (`["north","30-44"]`); a missing value is
   the empty string. Without strata fields every candidate is in the stratum `[]`.
3. Seats go to strata in proportion to their candidates, by the largest remainder
   (Hamilton) method: stratum s with n_s of N candidates gets floor(seats * n_s / N)
   seats; the seats left over go, one each, to the strata with the largest remainder
   (seats * n_s mod N), ties broken by the stratum key in ascending code-point order.
4. Within each stratum, in ascending key order, the candidates form a pool in their
   recorded order. For the j-th seat of the stratum (j = 0, 1, ...), compute
   h = SHA-256("civitas-draw/1\\n" + seed + "\\n" + key + "\\n" + j), read h as a big-endian
   256-bit integer, and take (remove) the pool's element at index h mod len(pool). (The
   modulo bias on a 256-bit number is below 2^-240 for pools of any realistic size.)
5. The selection is the references taken, stratum by stratum, in the order taken.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALGORITHM = "civitas-draw/1"


class DrawError(ValueError):
    """The draw cannot be made as asked (a caller's mistake, not a failed verification)."""


@dataclass(frozen=True)
class DrawResult:
    algorithm: str
    quotas: dict[str, int]  # seats per stratum key
    selected: list[str]  # references, in the order drawn


def stratum_key(strata: Mapping[str, Any], fields: Sequence[str]) -> str:
    values = [str((strata or {}).get(field, "") or "") for field in fields]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def quotas_for(counts: Mapping[str, int], seats: int) -> dict[str, int]:
    """Largest remainder: seats per stratum, proportional to its candidates."""
    total = sum(counts.values())
    if seats < 1 or seats > total:
        raise DrawError(f"{seats} seats cannot be drawn from {total} candidates.")
    quotas = {key: seats * n // total for key, n in counts.items()}
    left = seats - sum(quotas.values())
    by_remainder = sorted(counts, key=lambda key: (-(seats * counts[key] % total), key))
    for key in by_remainder[:left]:
        quotas[key] += 1
    return dict(sorted(quotas.items()))


def _index(*, seed: str, key: str, j: int, size: int) -> int:
    digest = hashlib.sha256(f"{ALGORITHM}\n{seed}\n{key}\n{j}".encode()).digest()
    return int.from_bytes(digest, "big") % size


def draw(*, seed: str, candidates: Sequence[Mapping[str, Any]], strata_fields: Sequence[str], seats: int) -> DrawResult:
    """Draw `seats` references from `candidates` ([{"ref": ..., "strata": {...}}], in order).

    Raises: DrawError."""
    if not isinstance(seed, str) or not seed:
        raise DrawError("A draw needs a seed.")
    if not isinstance(seats, int) or isinstance(seats, bool):
        raise DrawError("The number of seats must be a whole number.")
    refs = [str(c["ref"]) for c in candidates]
    if len(set(refs)) != len(refs):
        raise DrawError("Two candidates have the same reference.")
    pools: dict[str, list[str]] = {}
    for candidate in candidates:
        pools.setdefault(stratum_key(candidate.get("strata") or {}, strata_fields), []).append(str(candidate["ref"]))
    quotas = quotas_for({key: len(pool) for key, pool in pools.items()}, seats)
    selected: list[str] = []
    for key, quota in quotas.items():
        pool = list(pools[key])
        for j in range(quota):
            selected.append(pool.pop(_index(seed=seed, key=key, j=j, size=len(pool))))
    return DrawResult(algorithm=ALGORITHM, quotas=quotas, selected=selected)


def _field(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


def recompute(record: Any) -> DrawResult:
    """Re-run a recorded draw (a CouncilDraw or a dict with the same fields).

    Raises: DrawError (the record cannot be re-run: unknown algorithm, bad candidates)."""
    if _field(record, "algorithm") != ALGORITHM:
        raise DrawError(f"Unknown draw algorithm {_field(record, 'algorithm')!r}.")
    return draw(
        seed=_field(record, "seed"),
        candidates=_field(record, "candidates"),
        strata_fields=list(_field(record, "strata_fields")),
        seats=_field(record, "seats"),
    )


def verify(record: Any) -> bool:
    """True when re-running the record gives exactly its quotas and its selection."""
    try:
        result = recompute(record)
    except (DrawError, KeyError, TypeError, AttributeError):
        return False
    quotas = {str(k): v for k, v in dict(_field(record, "quotas") or {}).items()}
    return result.quotas == quotas and result.selected == list(_field(record, "selected") or [])

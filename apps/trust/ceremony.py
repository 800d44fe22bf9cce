"""Share files of a key ceremony: building them, reading them back, recovering the key.

Pure functions (no database); `services` records ceremonies and restores keys. A share
file is JSON:

    {"format": "civitas-key-share-v1", "ceremony": uuid, "key_id", "owner_type",
     "owner_id", "algorithm": "Ed25519", "public_key": base64, "k", "n",
     "index": x, "officer": name, "share": base64, "checksum": sha256 hex}

`checksum` is the SHA-256 of the RFC 8785 form of every other member, so a share that
was damaged or edited (its bytes, its number, its k) is refused with a clear message.
A checksum is not a MAC: someone who rewrites a share can recompute it, but then the
recovered private key does not match the public key, which every recovery checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from apps.identity import keys
from apps.trust import shamir

SHARE_FORMAT = "civitas-key-share-v1"
MAX_SUBSETS = 1000
_IDENTITY_FIELDS = ("ceremony", "key_id", "owner_type", "owner_id", "algorithm", "public_key", "k", "n")


class ShareError(ValueError):
    """A share file is unreadable, damaged, inconsistent with the others, or too few were given."""


class InsufficientShares(ShareError):
    pass


def _checksum(share: dict[str, Any]) -> str:
    body = {name: value for name, value in share.items() if name != "checksum"}
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def public_from_private(raw_private: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(raw_private).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def build_shares(
    *,
    ceremony: str,
    raw_private: bytes,
    key_id: str,
    owner_type: str,
    owner_id: str,
    public_key: bytes,
    k: int,
    n: int,
    officers: list[str],
) -> list[dict[str, Any]]:
    """One share document per officer, in the order given.

    Raises: ShareError when k, n and the officers do not fit together."""
    if len(officers) != n:
        raise ShareError(f"Name exactly {n} officers, one per share (got {len(officers)}).")
    if len(set(officers)) != len(officers) or not all(name.strip() for name in officers):
        raise ShareError("Officers' names must be distinct and not empty.")
    if not 2 <= k <= n <= 255:
        raise ShareError("Need 2 <= k <= n <= 255.")
    if public_from_private(raw_private) != bytes(public_key):
        raise ShareError(f"The private key of {key_id} does not match its public key; nothing was split.")
    shares = []
    for (x, y), officer in zip(shamir.split(raw_private, k=k, n=n), officers, strict=True):
        share = {
            "format": SHARE_FORMAT,
            "ceremony": ceremony,
            "key_id": key_id,
            "owner_type": owner_type,
            "owner_id": owner_id,
            "algorithm": "Ed25519",
            "public_key": base64.b64encode(bytes(public_key)).decode(),
            "k": k,
            "n": n,
            "index": x,
            "officer": officer.strip(),
            "share": base64.b64encode(y).decode(),
        }
        share["checksum"] = _checksum(share)
        shares.append(share)
    return shares


def parse_share(text: str, *, source: str = "share") -> dict[str, Any]:
    """Read one share file and check its checksum.

    Raises: ShareError naming the file and what is wrong."""
    try:
        share = json.loads(text)
    except ValueError as exc:
        raise ShareError(f"{source}: not a share file (not JSON).") from exc
    if not isinstance(share, dict) or share.get("format") != SHARE_FORMAT:
        raise ShareError(f"{source}: not a {SHARE_FORMAT} share file.")
    missing = [name for name in (*_IDENTITY_FIELDS, "index", "officer", "share", "checksum") if name not in share]
    if missing:
        raise ShareError(f"{source}: damaged share, missing {', '.join(missing)}.")
    try:
        expected = _checksum(share)
    except (TypeError, ValueError) as exc:
        raise ShareError(f"{source}: damaged share ({exc}).") from exc
    if share["checksum"] != expected:
        raise ShareError(f"{source}: the share is corrupted (its checksum does not match its content).")
    try:
        share["_y"] = base64.b64decode(share["share"], validate=True)
        share["_public_key"] = base64.b64decode(share["public_key"], validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ShareError(f"{source}: damaged share (bad base64).") from exc
    if not isinstance(share["index"], int) or not 1 <= share["index"] <= 255:
        raise ShareError(f"{source}: damaged share (bad share number).")
    share["_source"] = source
    return share


@dataclass
class RecoveredKey:
    key_id: str
    owner_type: str
    owner_id: str
    public_key: bytes
    raw_private: bytes
    ceremony: str
    k: int
    n: int
    used: list[int]


def recover(shares: list[dict[str, Any]], *, expected_public_key: bytes | None = None) -> RecoveredKey:
    """Rebuild a private key from parsed shares and check it against the public key.

    `expected_public_key` is the key row's, when the node still has it; otherwise the
    public key written in the shares (which the key id must fingerprint) is the check.
    Raises: InsufficientShares, ShareError."""
    if not shares:
        raise InsufficientShares("No shares were given.")
    first = shares[0]
    for share in shares[1:]:
        different = [name for name in _IDENTITY_FIELDS if share[name] != first[name]]
        if different:
            raise ShareError(
                f"{share['_source']} does not belong with {first['_source']} (different {', '.join(different)})."
            )
    indexes = [share["index"] for share in shares]
    if len(set(indexes)) != len(indexes):
        raise ShareError("The same share was given twice.")
    k, n = first["k"], first["n"]
    public_key = first["_public_key"]
    if keys.key_fingerprint(public_key) != first["key_id"]:
        raise ShareError("The shares' public key does not match their key id.")
    if expected_public_key is not None and bytes(expected_public_key) != public_key:
        raise ShareError(f"The shares are of a different key than the stored key {first['key_id']}.")
    if len(shares) < k:
        raise InsufficientShares(
            f"Insufficient shares: key {first['key_id']} was split {k} of {n}; {len(shares)} given. "
            f"Fewer than {k} shares reveal nothing about the key."
        )
    points = [(share["index"], share["_y"]) for share in shares]
    # With more than k shares, a wrong (but well-formed) share is found by trying subsets.
    for tried, subset in enumerate(combinations(range(len(points)), k)):
        if tried >= MAX_SUBSETS:
            break
        raw_private = shamir.combine([points[i] for i in subset])
        if len(raw_private) == 32 and public_from_private(raw_private) == public_key:
            return RecoveredKey(
                key_id=first["key_id"],
                owner_type=first["owner_type"],
                owner_id=first["owner_id"],
                public_key=public_key,
                raw_private=raw_private,
                ceremony=first["ceremony"],
                k=k,
                n=n,
                used=[points[i][0] for i in subset],
            )
    raise ShareError(
        "The shares do not rebuild the key: the result does not match the public key. "
        "At least one share is wrong, or fewer than k of them are genuine."
    )

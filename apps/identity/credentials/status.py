"""W3C Bitstring Status List v1.0: one list per institution, purpose and number.

A credential carries two `BitstringStatusListEntry` objects, one for revocation and one
for suspension. The lists are published as signed `BitstringStatusListCredential`s at
`/credentials/status/<institution slug>/<purpose>-<number>`; the bitstring is
GZIP-compressed, base64url-encoded without padding, multibase prefix 'u', at least
131,072 bits (16 KB), bit 0 the most significant bit of the first byte (spec 3.2).

The verifier reads this node's own lists straight from the database (always current) and
other nodes' lists over HTTPS, cached for `STATUS_CACHE_SECONDS`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io

import requests
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from apps.identity.models import STATUS_LIST_BITS, StatusList

STATUS_CACHE_SECONDS = 60
STATUS_FETCH_TIMEOUT_SECONDS = 5
STATUS_LIST_MAX_BYTES = 2 * 1024 * 1024


class StatusUnavailable(Exception):
    """A status list that cannot be read or trusted."""


def encode_bitstring(bits: bytes) -> str:
    # mtime=0: the same bits always encode to the same string.
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).decode().rstrip("=")


def decode_bitstring(encoded: str) -> bytes:
    """Raises: StatusUnavailable when the value is not a multibase base64url GZIP bitstring."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise StatusUnavailable("encodedList is not multibase base64url.")
    try:
        raw = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
        # Bounded decompression: a gzip bomb stops at the limit.
        bits = gzip.GzipFile(fileobj=io.BytesIO(raw)).read(STATUS_LIST_MAX_BYTES + 1)
    except (ValueError, OSError, EOFError) as exc:
        raise StatusUnavailable("encodedList is not GZIP-compressed base64url.") from exc
    if len(bits) > STATUS_LIST_MAX_BYTES:
        raise StatusUnavailable("The status list is too large.")
    return bits


def bit_at(bits: bytes, index: int) -> bool:
    """Raises: StatusUnavailable when the index is outside the list."""
    if index < 0 or index // 8 >= len(bits):
        raise StatusUnavailable("The status index is outside the list.")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def empty_bits() -> bytes:
    return bytes(STATUS_LIST_BITS // 8)


def status_list_url(status_list: StatusList) -> str:
    path = reverse(
        "credential-status-list",
        kwargs={"slug": status_list.institution.slug, "list_id": status_list.list_id},
    )
    return settings.CIVITAS_NODE_URL.rstrip("/") + path


def status_entry(status_list: StatusList, index: int) -> dict:
    url = status_list_url(status_list)
    return {
        "id": f"{url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": status_list.purpose,
        "statusListIndex": str(index),
        "statusListCredential": url,
    }


def status_list_credential(status_list: StatusList) -> dict:
    """The signed BitstringStatusListCredential of a list, as published."""
    from apps.identity.credentials import dataintegrity
    from apps.identity.credentials.services import institution_signer
    from apps.identity.credentials.vc import VC_CONTEXT, xsd_datetime

    institution = status_list.institution
    url = status_list_url(status_list)
    now = timezone.now()
    key, sign, issuer = institution_signer(institution)
    document = {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": xsd_datetime(now),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": status_list.purpose,
            "encodedList": encode_bitstring(bytes(status_list.bits)),
        },
    }
    return dataintegrity.secure(
        document,
        sign=sign,
        verification_method=f"{issuer}#{key}",
        proof_purpose="assertionMethod",
        created=xsd_datetime(now),
    )


def _local_list(url: str) -> StatusList | None:
    """This node's own list at a URL, or None when the URL is not this node's."""
    base = settings.CIVITAS_NODE_URL.rstrip("/") + "/credentials/status/"
    if not url.startswith(base):
        return None
    parts = url.removeprefix(base).strip("/").split("/")
    if len(parts) != 2 or "-" not in parts[1]:
        raise StatusUnavailable("No such status list on this node.")
    purpose, _, number = parts[1].rpartition("-")
    status_list = (
        StatusList.all_institutions.filter(  # tenancy: status lists are public by design
            institution__slug=parts[0], purpose=purpose, number=int(number) if number.isdigit() else -1
        )
        .select_related("institution")
        .first()
    )
    if status_list is None:
        raise StatusUnavailable("No such status list on this node.")
    return status_list


def _remote_list(url: str, *, purpose: str, issuer: str) -> bytes:
    from apps.identity.credentials.verify import verify_credential
    from apps.identity.did import DidResolutionError, require_public_https

    try:
        require_public_https(url)
    except DidResolutionError as exc:
        raise StatusUnavailable(exc.message) from exc
    cache_key = "identity:status:" + hashlib.sha256(url.encode()).hexdigest()
    bits = cache.get(cache_key)
    if bits is not None:
        return bits
    try:
        response = requests.get(url, timeout=STATUS_FETCH_TIMEOUT_SECONDS, allow_redirects=False)
        document = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError) as exc:
        raise StatusUnavailable(f"{url} could not be read.") from exc
    if not isinstance(document, dict):
        raise StatusUnavailable(f"{url} did not answer with a status list credential.")
    result = verify_credential(document, check_status=False)
    if not result["verified"]:
        raise StatusUnavailable(f"The status list credential at {url} does not verify.")
    document_issuer = document.get("issuer")
    if isinstance(document_issuer, dict):
        document_issuer = document_issuer.get("id")
    subject = document.get("credentialSubject") or {}
    if document_issuer != issuer or subject.get("statusPurpose") != purpose:
        raise StatusUnavailable(f"The status list at {url} is not the issuer's {purpose} list.")
    bits = decode_bitstring(subject.get("encodedList"))
    cache.set(cache_key, bits, STATUS_CACHE_SECONDS)
    return bits


def status_bit(*, url: str, index: int, purpose: str, issuer: str) -> bool:
    """Whether entry `index` of the list at `url` is set.

    Raises: StatusUnavailable."""
    local = _local_list(url)
    if local is not None:
        from apps.identity.did import institution_did_for

        if local.purpose != purpose or institution_did_for(local.institution) != issuer:
            raise StatusUnavailable("The status list is not the issuer's list for this purpose.")
        return bit_at(bytes(local.bits), index)
    return bit_at(_remote_list(url, purpose=purpose, issuer=issuer), index)

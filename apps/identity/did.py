"""Decentralised identifiers: did:web for the node and institutions, did:key for people and agents.

Every key is an Ed25519 Multikey: `publicKeyMultibase` is 'z' + base58btc(0xed01 || raw
public key). DID documents list an owner's keys, retired ones included (marked with
`revoked`, the time they stopped signing) so that what they signed still verifies.

Resolution: did:key offline; did:web of this node's own DIDs from the database; any other
did:web over HTTPS, with a timeout, cached in Django's cache.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from urllib.parse import quote, unquote, urlsplit

import base58
import requests
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from portal.errors import ApplicationError

ED25519_MULTICODEC = b"\xed\x01"
DID_CONTEXT = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
DID_RESOLVE_TIMEOUT_SECONDS = 5
DID_CACHE_SECONDS = 300
DID_DOCUMENT_MAX_BYTES = 256 * 1024


class DidResolutionError(ApplicationError):
    """A DID or DID URL that cannot be resolved to a document or a verification method."""

    code = "did_unresolvable"
    status = 400


# --- Multikey and did:key -------------------------------------------------------------


def multikey_encode(public_key: bytes) -> str:
    return "z" + base58.b58encode(ED25519_MULTICODEC + bytes(public_key)).decode()


def multikey_decode(value: str) -> bytes:
    """The raw Ed25519 public key of a Multikey value.

    Raises: DidResolutionError when it is not a base58btc Ed25519 Multikey."""
    if not isinstance(value, str) or not value.startswith("z"):
        raise DidResolutionError(_("The key is not a base58btc multibase value."))
    try:
        decoded = base58.b58decode(value[1:])
    except ValueError as exc:
        raise DidResolutionError(_("The key is not valid base58.")) from exc
    if len(decoded) != 34 or decoded[:2] != ED25519_MULTICODEC:
        raise DidResolutionError(_("The key is not an Ed25519 public key."))
    return decoded[2:]


def did_key_from_public_key(public_key: bytes) -> str:
    return "did:key:" + multikey_encode(public_key)


def did_key_verification_method(did: str) -> str:
    return f"{did}#{did.removeprefix('did:key:')}"


def _verification_method(did: str, public_key: bytes, *, revoked: str = "") -> dict:
    multibase = multikey_encode(public_key)
    method = {"id": f"{did}#{multibase}", "type": "Multikey", "controller": did, "publicKeyMultibase": multibase}
    if revoked:
        method["revoked"] = revoked
    return method


def did_key_document(did: str) -> dict:
    """The DID document of a did:key, derived from the identifier alone.

    Raises: DidResolutionError."""
    public_key = multikey_decode(did.removeprefix("did:key:"))
    method = _verification_method(did, public_key)
    return _document(did, [method], active_ids=[method["id"]])


def _document(did: str, methods: list[dict], *, active_ids: list[str]) -> dict:
    ids = [m["id"] for m in methods]
    return {
        "@context": DID_CONTEXT,
        "id": did,
        "verificationMethod": methods,
        # Retired keys stay assertion methods: credentials they signed before retiring still verify.
        "assertionMethod": ids,
        "authentication": active_ids,
        "capabilityInvocation": active_ids,
    }


# --- did:web of this node -------------------------------------------------------------


def node_host() -> str:
    """The node's host as did:web writes it: a port's colon percent-encoded."""
    return quote(urlsplit(settings.CIVITAS_NODE_URL).netloc, safe="")


def node_did() -> str:
    return f"did:web:{node_host()}"


def institution_did_for(institution) -> str:
    from apps.tenancy.services import institution_did

    return institution.did or institution_did(institution.slug)


def _owner_document(did: str, *, owner_type: str, owner_id: str) -> dict:
    from apps.identity.models import KeyStatus, SigningKey

    methods, active = [], []
    for key in SigningKey.objects.filter(owner_type=owner_type, owner_id=owner_id).order_by("created_at", "pk"):
        revoked = key.retired_at.strftime("%Y-%m-%dT%H:%M:%SZ") if key.status == KeyStatus.RETIRED else ""
        method = _verification_method(did, bytes(key.public_key), revoked=revoked or "")
        methods.append(method)
        if not revoked:
            active.append(method["id"])
    return _document(did, methods, active_ids=active)


def node_did_document() -> dict:
    from apps.identity.models import KeyOwnerType
    from apps.identity.services import node_signing_key

    node_signing_key()  # a node always has a key to publish
    return _owner_document(node_did(), owner_type=KeyOwnerType.NODE, owner_id="")


def institution_did_document(institution) -> dict:
    from apps.identity.models import KeyOwnerType

    return _owner_document(
        institution_did_for(institution), owner_type=KeyOwnerType.INSTITUTION, owner_id=str(institution.pk)
    )


def _local_document(did: str) -> dict | None:
    """This node's own did:web documents, from the database; None when the DID is not ours."""
    from apps.tenancy.models import Institution

    host = node_host()
    if did == f"did:web:{host}":
        return node_did_document()
    institution = Institution.objects.filter(did=did).first()  # the DID it was created with, even under another host
    if institution is not None:
        return institution_did_document(institution)
    prefix = f"did:web:{host}:institutions:"
    if did.startswith(prefix):
        institution = Institution.objects.filter(slug=did.removeprefix(prefix)).first()
        if institution is None:
            raise DidResolutionError(_("No institution on this node has the DID %(did)s.") % {"did": did})
        return institution_did_document(institution)
    return None


# --- Resolution ---------------------------------------------------------------------------


def did_web_url(did: str) -> str:
    """Where a did:web document lives (did:web method specification, "Read")."""
    parts = did.removeprefix("did:web:").split(":")
    if not parts or not parts[0] or any(not p for p in parts):
        raise DidResolutionError(_("%(did)s is not a valid did:web identifier.") % {"did": did})
    host = unquote(parts[0])
    path = "/".join(parts[1:])
    return f"https://{host}/{path}/did.json" if path else f"https://{host}/.well-known/did.json"


def require_public_https(url: str) -> None:
    """Refuse URLs this node must not fetch for a stranger: not HTTPS, or a host inside our network.

    The public verifier resolves DIDs and status lists named in documents anyone may post;
    without this check they would make the node probe its own network.

    Raises: DidResolutionError."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise DidResolutionError(_("%(url)s is not an HTTPS address.") % {"url": url})
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError) as exc:
        raise DidResolutionError(_("%(host)s could not be found.") % {"host": parts.hostname}) from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global:
            raise DidResolutionError(_("%(host)s is not a public address.") % {"host": parts.hostname})


def _fetch_did_web(did: str) -> dict:
    url = did_web_url(did)
    cache_key = "identity:did:" + hashlib.sha256(did.encode()).hexdigest()
    document = cache.get(cache_key)
    if document is not None:
        return document
    require_public_https(url)
    try:
        response = requests.get(
            url, timeout=DID_RESOLVE_TIMEOUT_SECONDS, headers={"Accept": "application/did+json"}, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise DidResolutionError(_("%(url)s could not be reached.") % {"url": url}) from exc
    if response.status_code != 200 or len(response.content) > DID_DOCUMENT_MAX_BYTES:
        raise DidResolutionError(
            _("%(url)s did not answer with a DID document (HTTP %(status)s).")
            % {"url": url, "status": response.status_code}
        )
    try:
        document = response.json()
    except ValueError as exc:
        raise DidResolutionError(_("%(url)s did not answer with JSON.") % {"url": url}) from exc
    if not isinstance(document, dict) or document.get("id") != did:
        raise DidResolutionError(
            _("The document at %(url)s is not the DID document of %(did)s.") % {"url": url, "did": did}
        )
    cache.set(cache_key, document, DID_CACHE_SECONDS)
    return document


def resolve(did: str) -> dict:
    """The DID document of a did:key or did:web.

    Raises: DidResolutionError."""
    if not isinstance(did, str):
        raise DidResolutionError(_("A DID must be a string."))
    if did.startswith("did:key:"):
        return did_key_document(did)
    if did.startswith("did:web:"):
        local = _local_document(did)
        return local if local is not None else _fetch_did_web(did)
    raise DidResolutionError(_("The DID method of %(did)s is not supported (did:key and did:web are).") % {"did": did})


def resolve_verification_method(url: str) -> tuple[dict, dict]:
    """The verification method a DID URL names, and its DID document.

    Raises: DidResolutionError."""
    if not isinstance(url, str) or "#" not in url:
        raise DidResolutionError(_("The verification method must be a DID URL with a fragment."))
    did = url.split("#", 1)[0]
    document = resolve(did)
    for method in document.get("verificationMethod") or []:
        if isinstance(method, dict) and method.get("id") in (url, "#" + url.split("#", 1)[1]):
            return method, document
    raise DidResolutionError(_("The DID document of %(did)s has no key %(url)s.") % {"did": did, "url": url})


def method_public_key(method: dict) -> bytes:
    """Raises: DidResolutionError when the method is not an Ed25519 Multikey."""
    if method.get("type") not in ("Multikey", "Ed25519VerificationKey2020"):
        raise DidResolutionError(_("The key type %(type)s is not supported.") % {"type": method.get("type")})
    return multikey_decode(method.get("publicKeyMultibase", ""))

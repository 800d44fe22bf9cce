"""Key material: Ed25519 signing with private keys encrypted at rest under the master key.

The master key (`CIVITAS_MASTER_KEY`, 32 bytes base64) never touches the database.
Each private key is sealed with AES-256-GCM, its key id bound as associated data so a
ciphertext cannot be moved onto another key row. Rotating the master key: put the old
one in `CIVITAS_MASTER_KEYS_OLD`, the new one in `CIVITAS_MASTER_KEY`, and run
`python manage.py keys rewrap`.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NONCE_BYTES = 12


def _decode_master(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ImproperlyConfigured("CIVITAS_MASTER_KEY must be base64.") from exc
    if len(key) != 32:
        raise ImproperlyConfigured("CIVITAS_MASTER_KEY must decode to exactly 32 bytes.")
    return key


def generate_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def seal(plaintext: bytes, *, key_id: str) -> bytes:
    """Encrypt under the current master key: nonce || ciphertext+tag."""
    nonce = os.urandom(NONCE_BYTES)
    aead = AESGCM(_decode_master(settings.CIVITAS_MASTER_KEY))
    return nonce + aead.encrypt(nonce, plaintext, key_id.encode())


def unseal(sealed: bytes, *, key_id: str) -> bytes:
    """Decrypt with the current master key, or an old one during a rotation."""
    nonce, ciphertext = bytes(sealed[:NONCE_BYTES]), bytes(sealed[NONCE_BYTES:])
    for master in [settings.CIVITAS_MASTER_KEY, *settings.CIVITAS_MASTER_KEYS_OLD]:
        try:
            return AESGCM(_decode_master(master)).decrypt(nonce, ciphertext, key_id.encode())
        except InvalidTag:
            continue
    raise ImproperlyConfigured(f"Key {key_id} cannot be decrypted with the configured master key(s).")


def new_ed25519() -> tuple[bytes, bytes]:
    """A fresh key pair as (raw private bytes, raw public bytes)."""
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    raw_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return raw_private, raw_public


def key_fingerprint(public_key: bytes) -> str:
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:32]


def sign(raw_private: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(raw_private).sign(message)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(bytes(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True

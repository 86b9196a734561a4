"""Private keys sealed at rest: AES-256-GCM under the platform's key-encryption key.

The KEK is OAUTH_KEY_ENCRYPTION_KEY (production: 32 random bytes, base64) or, in
embedded mode, derived from SECRET_KEY with HKDF. (The setting kept its first user's
name; it now seals the token signing keys and the MO CA keys alike.) Callers pass
associated data that names the row a key belongs to, each in its own namespace, so a
sealed key copied to another row, tenant or purpose does not open.
"""
import base64
import functools
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

NONCE_BYTES = 12


class KeyEncryptionError(ValueError):
    pass


def _kek() -> bytes:
    return _kek_of(getattr(settings, "OAUTH_KEY_ENCRYPTION_KEY", ""), settings.SECRET_KEY)


@functools.lru_cache(maxsize=8)
def _kek_of(configured: str, secret_key: str) -> bytes:
    """Cached by the settings it comes from: every Digest challenge and sealed secret
    reaches it, and HKDF costs tens of microseconds a time."""
    if configured:
        key = base64.b64decode(configured)
        if len(key) != 32:
            raise KeyEncryptionError("OAUTH_KEY_ENCRYPTION_KEY must be 32 bytes, base64-encoded")
        return key
    # This info string derived the first sealed keys: changing it would lock them out.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"chargegate oauth signing-key encryption").derive(secret_key.encode())


def seal(private_pem: bytes, aad: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(_kek()).encrypt(nonce, private_pem, aad)).decode("ascii")


def unseal(sealed: str, aad: bytes) -> bytes:
    blob = base64.b64decode(sealed)
    try:
        return AESGCM(_kek()).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except Exception:
        raise KeyEncryptionError("sealed key does not open: wrong key-encryption key or tampered") from None


def derive(info: bytes, length: int = 32) -> bytes:
    """A key for one purpose (`info`) derived from the KEK with HKDF: every server
    process of a deployment derives the same one, and nothing else opens with it."""
    return _derived(_kek(), info, length)


@functools.lru_cache(maxsize=64)
def _derived(kek: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(kek)

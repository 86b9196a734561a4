"""Station keys at rest: salted argon2 hashes only (OCPP-J 1.6 §6.2.2, "Storing the credentials").

The hasher is Django's, with parameters chosen for machine keys: a station key has 160
random bits, so the hash only needs to defeat offline guessing of a leaked table, not of
weak human passwords; a lighter memory cost (OWASP's argon2id minimum) keeps a fleet
reconnecting after an outage from exhausting the server's memory.
"""
import secrets

from django.contrib.auth.hashers import Argon2PasswordHasher

KEY_BYTES = 20


class StationKeyHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1


_HASHER = StationKeyHasher()


def hash_key(key: bytes) -> str:
    if len(key) != KEY_BYTES:
        raise ValueError(f"a station key is {KEY_BYTES} bytes")
    return _HASHER.encode(key.hex(), _HASHER.salt())


def verify_key(key: bytes, encoded: str) -> bool:
    """Constant-time check of `key` against a stored hash (argon2 compares in C)."""
    # Anything but an argon2 hash (empty, or another algorithm) never matches; Django's
    # hasher would assert on a foreign algorithm instead of answering.
    if not encoded.startswith(_HASHER.algorithm + "$") or len(key) != KEY_BYTES:
        return False
    try:
        return _HASHER.verify(key.hex(), encoded)
    except ValueError:
        return False


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def parse_hex_key(text: str) -> bytes:
    """A key given by an operator as 40 hex characters."""
    text = text.strip()
    if len(text) != 2 * KEY_BYTES:
        raise ValueError(f"a key is {2 * KEY_BYTES} hexadecimal characters")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("a key is written in hexadecimal (0-9, a-f)") from None

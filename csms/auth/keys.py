"""Station keys at rest: salted argon2 hashes only (OCPP-J 1.6 §6.2.2, "Storing the credentials").

The hasher is Django's, with parameters chosen for machine keys: a station key has 160
random bits, so the hash only needs to defeat offline guessing of a leaked table, not of
weak human passwords; a lighter memory cost (OWASP's argon2id minimum) keeps a fleet
reconnecting after an outage from exhausting the server's memory.
"""
import secrets
import string

from django.contrib.auth.hashers import Argon2PasswordHasher

KEY_BYTES = 20


class StationKeyHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1


_HASHER = StationKeyHasher()


MAX_SECRET_BYTES = 64


def hash_secret(secret: bytes) -> str:
    """Hash any station secret: a 1.6 key (20 bytes) or a 2.0.1 password (its bytes).

    The hasher sees the secret's hex text, so raw key bytes that are not UTF-8 hash
    the same way on every platform.
    """
    if not 0 < len(secret) <= MAX_SECRET_BYTES:
        raise ValueError(f"a station secret is 1 to {MAX_SECRET_BYTES} bytes")
    return _HASHER.encode(secret.hex(), _HASHER.salt())


def verify_secret(secret: bytes, encoded: str) -> bool:
    """Constant-time check of `secret` against a stored hash (argon2 compares in C)."""
    # Anything but an argon2 hash (empty, or another algorithm) never matches; Django's
    # hasher would assert on a foreign algorithm instead of answering.
    if not encoded.startswith(_HASHER.algorithm + "$") or not 0 < len(secret) <= MAX_SECRET_BYTES:
        return False
    try:
        return _HASHER.verify(secret.hex(), encoded)
    except ValueError:
        return False


def hash_key(key: bytes) -> str:
    if len(key) != KEY_BYTES:
        raise ValueError(f"a station key is {KEY_BYTES} bytes")
    return hash_secret(key)


def verify_key(key: bytes, encoded: str) -> bool:
    return len(key) == KEY_BYTES and verify_secret(key, encoded)


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


# OCPP 2.0.1 BasicAuthPassword is a passwordString of 16 to 40 characters; letters and
# digits are safe in every station's configuration store and give 238 bits at 40.
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 40


def generate_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def parse_hex_key(text: str) -> bytes:
    """A key given by an operator as 40 hex characters."""
    text = text.strip()
    if len(text) != 2 * KEY_BYTES:
        raise ValueError(f"a key is {2 * KEY_BYTES} hexadecimal characters")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("a key is written in hexadecimal (0-9, a-f)") from None

"""Station keys at rest: salted argon2 hashes only (OCPP-J 1.6 §6.2.2, "Storing the credentials").

The hasher is Django's, with parameters chosen for machine keys (`lib.hashing`: a
station key has 160 random bits, so OWASP's lightest argon2id profile is enough), and
it runs through the process-wide hashing gate shared with user passwords and client
secrets, so a flood of handshakes cannot exhaust the server's memory.
"""
import re
import secrets
import string

from lib.hashing import MachineSecretHasher
from lib.verified import RecentlyVerified

KEY_BYTES = 20


class StationKeyHasher(MachineSecretHasher):
    pass


_HASHER = StationKeyHasher()

# Station keys this process verified lately: a reconnect within this time needs no
# argon2 run, so it is not refused when a storm of guesses fills the hashing gate.
VERIFIED_TTL_SECONDS = 15 * 60
recently_verified = RecentlyVerified(VERIFIED_TTL_SECONDS, max_entries=100_000)


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


_HEX_SHAPED = re.compile(r"[0-9A-Fa-f]{40}")


def generate_password() -> str:
    """A password that never looks like a hex-written key: the handshake reads a 40-hex
    password as a key (`basic.candidate_secret`), so one shaped like that could not be
    told apart. The odds of drawing one are about 1e-18; the loop makes them zero."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        if not _HEX_SHAPED.fullmatch(password):
            return password


def parse_hex_key(text: str) -> bytes:
    """A key given by an operator as 40 hex characters."""
    text = text.strip()
    if len(text) != 2 * KEY_BYTES:
        raise ValueError(f"a key is {2 * KEY_BYTES} hexadecimal characters")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("a key is written in hexadecimal (0-9, a-f)") from None

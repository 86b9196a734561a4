"""The TOTP token format (`totp-token-format.md`): a configuration checked as section 5
says, the slot of an instant, and the token of a slot (section 4, its quirks kept).

Both sides compute tokens: the CSMS to verify them (`csms.auth.totp`), a station to
send them (`stationclient`), so it lives on the `lib` floor. Pure.
"""
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote, urlencode

BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
MIN_SECRET_CHARS = 16
SLOT_MODULUS = 1 << 64  # slots are unsigned 64-bit (section 4.4)


class InvalidConfig(ValueError):
    """A TOTP parameter the format forbids; the message is the spec's shared text."""


@dataclass(frozen=True)
class Config:
    secret: str
    validity: int = 30
    length: int = 12
    alphabet: str = BASE62
    hash: str = "sha256"

    def __repr__(self):  # the secret never reaches a log through repr()
        return f"Config(validity={self.validity}, length={self.length}, hash={self.hash!r})"


def config(secret, validity=None, length=None, alphabet=None, hash_algorithm=None) -> Config:
    """A checked configuration, normalised (secret and alphabet trimmed), with the
    format's defaults for what is None; raise `InvalidConfig` (section 5, in its order)."""
    secret = (secret or "").strip()
    if not secret:
        raise InvalidConfig("The given shared secret must not be null or empty!")
    if any(c.isspace() for c in secret):
        raise InvalidConfig("The given shared secret must not contain any whitespace characters!")
    if len(secret.encode("utf-16-le")) // 2 < MIN_SECRET_CHARS:
        raise InvalidConfig("The length of the given shared secret must be at least 16 characters!")
    length = 12 if length is None else length
    if isinstance(length, bool) or not isinstance(length, int) or not 4 <= length <= 255:
        raise InvalidConfig("The expected length of the TOTP must be between 4 and 255 characters!")
    validity = 30 if validity is None else validity
    if isinstance(validity, bool) or not isinstance(validity, int) or validity <= 0:
        raise InvalidConfig("The validity time must be a positive integer number of seconds!")
    hash_algorithm = "sha256" if hash_algorithm is None else hash_algorithm
    if hash_algorithm not in HASHES:
        raise InvalidConfig("The hash algorithm must be one of: sha256, sha384, sha512!")
    alphabet = BASE62 if alphabet is None else alphabet.strip()
    if not alphabet:
        raise InvalidConfig("The given alphabet must not be null or empty!")
    if len(alphabet) < 4:
        raise InvalidConfig("The given alphabet must contain at least 4 characters!")
    if len(set(alphabet)) != len(alphabet):
        raise InvalidConfig("The given alphabet must not contain duplicate characters!")
    if any(c.isspace() for c in alphabet):
        raise InvalidConfig("The given alphabet must not contain any whitespace characters!")
    return Config(secret, validity, length, alphabet, hash_algorithm)


def slot_of(c: Config, unix_seconds: int) -> int:
    if unix_seconds < 0:
        raise InvalidConfig("The timestamp must be a non-negative Unix timestamp in milliseconds!")
    return unix_seconds // c.validity


def token(c: Config, slot: int, exporter: bytes | None = None) -> str:
    """The token of one slot (section 4.2), modulo bias and ring buffer as frozen."""
    digest = HASHES[c.hash]
    d = hmac.new(c.secret.encode("utf-8"), (slot % SLOT_MODULUS).to_bytes(8, "big"), digest).digest()
    if exporter:  # an empty exporter material is absent (section 6)
        d = hmac.new(exporter, d, digest).digest()
    offset = d[-1] & 0x0F
    return "".join(c.alphabet[d[(offset + i) % len(d)] % len(c.alphabet)] for i in range(c.length))


def triple(c: Config, unix_seconds: int, exporter: bytes | None = None) -> tuple[str, str, str]:
    """(previous, current, next): the slot arithmetic is unsigned 64-bit (section 4.4)."""
    s = slot_of(c, unix_seconds)
    return token(c, s - 1, exporter), token(c, s, exporter), token(c, s + 1, exporter)


def remaining(c: Config, unix_seconds: int) -> int:
    return c.validity - unix_seconds % c.validity


def provisioning_uri(c: Config, issuer: str, account: str) -> str:
    """The configuration as a Key URI (`otpauth://totp/<issuer>:<account>?…`), for the
    tools that provision a station. Its secret is the format's Unicode string, not Base32,
    and tokens are `length` characters of `alphabet`, not digits: RFC 6238 authenticator
    apps cannot use it (section 1.1), so every parameter is spelt out."""
    label = quote(f"{issuer}:{account}", safe=":")
    query = urlencode({"secret": c.secret, "issuer": issuer, "algorithm": c.hash.upper(), "digits": c.length,
                       "period": c.validity, "alphabet": c.alphabet}, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"

"""HTTP Basic for stations (RFC 7617, OCPP-J 1.6 §6.2.2).

The password is the station's 20-byte key as *raw bytes*, which are rarely valid
UTF-8: credentials are decoded as bytes and split at the first colon (the identity
cannot contain one; the key may). Many stations send the key's 40-character hex text
instead; a tenant setting decides whether that is accepted.
"""
import base64
import binascii
import re
from dataclasses import dataclass

from .headers import MalformedAuthorization

KEY_BYTES = 20
_BASE64 = re.compile(rb"^[A-Za-z0-9+/]+={0,2}$")
_HEX40 = re.compile(rb"^[0-9A-Fa-f]{40}$")


@dataclass(frozen=True)
class BasicCredentials:
    username: bytes
    password: bytes

    def __repr__(self):  # never let a password reach a log through repr()
        return f"BasicCredentials(username={self.username!r}, password=<{len(self.password)} bytes>)"


def parse_basic(token: bytes) -> BasicCredentials:
    """Decode the token68 of a Basic Authorization header; raise if malformed."""
    token = token.strip()
    if not token or not _BASE64.fullmatch(token):
        raise MalformedAuthorization("Basic credentials are not base64")
    try:
        # Some stations drop the padding; restoring it is unambiguous.
        raw = base64.b64decode(token + b"=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedAuthorization("Basic credentials are not base64") from None
    username, colon, password = raw.partition(b":")
    if not colon:
        raise MalformedAuthorization("Basic credentials have no ':' separator")
    return BasicCredentials(username, password)


def key_from_password(password: bytes, accept_hex: bool) -> bytes | None:
    """The 20-byte key a Basic password stands for, or None if it cannot be one."""
    if len(password) == KEY_BYTES:
        return password
    if accept_hex and _HEX40.fullmatch(password):
        return bytes.fromhex(password.decode("ascii"))
    return None


def challenge(realm: str) -> str:
    """The WWW-Authenticate value that invites Basic credentials."""
    escaped = realm.replace("\\", "\\\\").replace('"', '\\"')
    return f'Basic realm="{escaped}"'


def candidate_secret(password: bytes, accept_hex: bool) -> bytes | None:
    """The one secret a Basic password stands for, decided by its shape, so that a
    guess costs one argon2 run per stored key — never one per reading of it.

    A 1.6 key is 20 raw bytes, or (if the tenant allows) its 40 hex characters; any
    other password of 1 to 64 bytes is a 2.0.1 password, taken as its own bytes. A
    40-hex password is therefore always read as a key: the CLI stores a hex key given
    for a 2.0.1 station as its 20 bytes, and generated 2.0.1 passwords are never
    hex-shaped (`keys.generate_password`), so nothing stored needs the other reading.
    """
    key = key_from_password(password, accept_hex)
    if key is not None:
        return key
    if password and len(password) <= 64:
        return password
    return None

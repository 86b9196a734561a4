"""HTTP Basic for stations (RFC 7617, OCPP-J 1.6 §6.2.2): the first scheme plug-in.

The password is the station's 1.6 key as *raw bytes*, which are rarely valid UTF-8:
credentials are decoded as bytes and split at the first colon (the identity cannot
contain one; the key may). Many stations send the key's hex text instead; a tenant
setting decides whether that is accepted (`policy.accepts_hex`). A 2.0.1 password is
taken as its own bytes.

Malformed (400, white paper CSMS-9..11): anything but a token68 after the scheme, text
that is not base64, no colon, and a login or password of one byte. An empty password
is a station without one (a 2.0.1 station missing BasicAuthPassword): a 401 with the
challenges, as if it had sent nothing.
"""
import base64
import binascii
import hmac
import re
from dataclasses import dataclass

from lib.http_auth import Credentials, MalformedAuthorization, challenge

from .schemes import Subject, Verdict

# A 1.6 AuthorizationKey is 16 to 20 bytes, written as 32 to 40 hex digits (1.6 security
# white paper A00.FR.205 and configuration key 7.2); the keys drawn here are 20 bytes.
KEY_BYTES = 20
MIN_KEY_BYTES = 16
MAX_SECRET_BYTES = 64  # the longest secret a station is given or may be given
_BASE64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_HEX_KEY = re.compile(rb"(?:[0-9A-Fa-f]{2}){%d,%d}" % (MIN_KEY_BYTES, KEY_BYTES))


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
    if len(username) == 1 or len(password) == 1:
        # White paper CSMS-11: no station identity, 1.6 key or 2.0.1 password is this short.
        raise MalformedAuthorization("Basic login or password of one byte")
    return BasicCredentials(username, password)


def key_from_password(password: bytes, accept_hex: bool) -> bytes | None:
    """The 1.6 key (16 to 20 bytes) a Basic password stands for, or None if it cannot be one."""
    if MIN_KEY_BYTES <= len(password) <= KEY_BYTES:
        return password
    if accept_hex and _HEX_KEY.fullmatch(password):
        return bytes.fromhex(password.decode("ascii"))
    return None


def candidate_secret(password: bytes, accept_hex: bool) -> bytes | None:
    """The one secret a Basic password stands for, decided by its shape, so that a
    guess costs one argon2 run per stored key — never one per reading of it.

    A 1.6 key is 16 to 20 raw bytes, or (if hex is accepted) its 32 to 40 hex
    characters; any other password of up to 64 bytes is a 2.0.1 password, taken as its
    own bytes. A hex-shaped password of key length is therefore always read as a key:
    the CLI stores a hex key given for a 2.0.1 station as its bytes, and generated 2.0.1
    passwords are 40 characters never hex-shaped (`keys.generate_password`), so nothing
    stored needs the other reading.
    """
    key = key_from_password(password, accept_hex)
    if key is not None:
        return key
    if password and len(password) <= MAX_SECRET_BYTES:
        return password
    return None


def known_login(username: bytes, subject: Subject) -> bool:
    """Whether `username` is the station's identity or one of its logins (each compared
    in constant time, all of them, whichever matches)."""
    found = False
    for login in (subject.identity.encode("utf-8"), *subject.logins):
        found |= hmac.compare_digest(username, login)
    return found


class Basic:
    """The scheme plug-in (`schemes.Scheme`)."""

    name = "Basic"

    def parse(self, credentials: Credentials) -> BasicCredentials:
        return parse_basic(credentials.only_token68(self.name))

    def verify(self, credentials: BasicCredentials, subject: Subject) -> Verdict:
        """The login must be the station's identity or one of its other logins (the white
        paper's privacy mapping), and the password one of its valid keys; a wrong login
        costs what a wrong key does (`keys.StoredKeys.decoy`)."""
        if not known_login(credentials.username, subject):
            return Verdict(False, "wrong credentials", hashes=subject.keys.decoy(credentials.password))
        secret = candidate_secret(credentials.password, subject.accept_hex)
        if secret is None:  # empty or longer than any secret: nothing to verify
            return Verdict(False, "wrong credentials")
        return subject.keys.check(secret)

    def challenge(self, subject: Subject) -> str:
        return challenge(self.name, [("realm", subject.realm)])

    def presented(self, credentials: BasicCredentials) -> bytes | None:
        return credentials.password or None


SCHEME = Basic()

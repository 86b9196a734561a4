"""TOTP for stations (`totp-token-format.md`, `totp-http-authentication.md`): a scheme
plug-in with three bindings, all under the method name `totp`:

* `Authorization: TOTP login="<b64>", totp="<b64>"[, tlscb=false]` — the scheme;
* `Authorization: Basic base64(login:token)` — the Basic binding: a station whose list
  names `totp` and holds a TOTP secret may put its token in Basic's password field
  (`basic_binding`); a password of the token's length is read as a token, any other
  as a key (tokens are 8 to 15 characters, so never the shape of a key);
* the `TOTP: 0 <token>` request header, the login being the URL's identity.

Tokens: HMAC(secret, slot) mapped onto an alphabet (`token`, section 4 of the format,
its quirks kept); the previous, current and next slot are accepted, each slot once
(`TotpStore.first_use`, shared by all processes), compared in constant time.
Channel-bound tokens (`tlscb` absent or true, header type 1) are refused: behind the
ASGI server there is no TLS exporter to bind to, and the spec forbids verifying a
bound token as raw. Pure: the station's secret, the clock and the replay store are
reached through `subject.totp`.
"""
import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from typing import Protocol

from lib.http_auth import Credentials, MalformedAuthorization, challenge

# The token format itself, shared with the station client; its names are this module's too.
from lib.totp_token import (  # noqa: F401
    BASE62,
    HASHES,
    MIN_SECRET_CHARS,
    SLOT_MODULUS,
    Config,
    InvalidConfig,
    config,
    remaining,
    slot_of,
    token,
    triple,
)

from .schemes import Subject, Verdict

# Issued here: 8 to 15 characters, so a Basic password of a token's length is never a
# key's (16-20 raw bytes, 32-40 hex digits, a 40-character 2.0.1 password).
MIN_ISSUED_LENGTH, MAX_ISSUED_LENGTH = 8, 15
_TOTP_HEADER = re.compile(rb"[ \t]*([0-9])[ ]([\x21-\x7e]+)[ \t]*")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


# --- the handshake's side ---------------------------------------------------------------

class TotpStore(Protocol):
    """The station's TOTP configuration and the shared replay store (`keys.StoredTotp`)."""
    public_id: str  # which secret (a revocation closes its connections)

    def config(self) -> Config | None: ...

    def first_use(self, slot: int, ttl: int) -> bool:
        """Record that `slot` was used; False if it was before."""
        ...

    def now(self) -> float: ...


@dataclass(frozen=True)
class TotpCredentials:
    login: bytes | None  # None: the URL's identity (the TOTP request header)
    token: bytes
    bound: bool  # a TLS-channel-bound token (tlscb true, header type 1)
    binding: str  # "scheme", "basic" or "header", for the log

    def __repr__(self):
        return f"TotpCredentials(login={self.login!r}, binding={self.binding!r}, <{len(self.token)} chars>)"


def _b64(value: bytes, name: str) -> bytes:
    if not value or not _BASE64.fullmatch(value):
        raise MalformedAuthorization(f"TOTP {name} is not base64")
    try:
        decoded = base64.b64decode(value + b"=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedAuthorization(f"TOTP {name} is not base64") from None
    if not decoded:
        raise MalformedAuthorization(f"TOTP {name} is empty")
    return decoded


def parse_scheme(credentials: Credentials) -> TotpCredentials:
    """`Authorization: TOTP` (section 5.1): login and totp mandatory, base64; tlscb
    true (the default) or false; unknown parameters ignored; repeats are the grammar's 400."""
    if credentials.token68 is not None or not credentials.params:
        raise MalformedAuthorization("TOTP credentials are auth-params")
    login, totp, tlscb = (credentials.param(n) for n in ("login", "totp", "tlscb"))
    if login is None or totp is None:
        raise MalformedAuthorization("TOTP credentials lack login or totp")
    if tlscb is not None and tlscb.lower() not in (b"true", b"false"):
        raise MalformedAuthorization("TOTP tlscb is neither true nor false")
    return TotpCredentials(_b64(login, "login"), _b64(totp, "totp"),
                           tlscb is None or tlscb.lower() == b"true", "scheme")


def parse_header(values: list[bytes]) -> TotpCredentials:
    """The `TOTP: <type> <token>` request header (section 6.1); type 0 raw, 1 bound."""
    if len(values) != 1:
        raise MalformedAuthorization("more than one TOTP header")
    found = _TOTP_HEADER.fullmatch(values[0])
    if found is None or found.group(1) not in (b"0", b"1"):
        raise MalformedAuthorization("TOTP header is not '<0|1> <token>'")
    return TotpCredentials(None, found.group(2), found.group(1) == b"1", "header")


def basic_binding(username: bytes, password: bytes, subject: Subject) -> TotpCredentials | None:
    """A Basic password that is this station's token (section 4), or None: a password
    of its configured length, from a station that may use TOTP and holds a secret."""
    store = subject.totp
    c = store.config() if store is not None and "totp" in subject.methods else None
    if c is None or len(password) != c.length:
        return None
    return TotpCredentials(username, password, False, "basic")


class Totp:
    """The scheme plug-in (`schemes.Scheme`)."""

    name = "TOTP"

    def parse(self, credentials: Credentials) -> TotpCredentials:
        return parse_scheme(credentials)

    def verify(self, c: TotpCredentials, subject: Subject) -> Verdict:
        from .basic import known_login

        store = subject.totp
        cfg = store.config() if store is not None else None
        if c.bound:
            return Verdict(False, "channel-bound TOTP refused: no TLS exporter here")
        login_ok = c.login is None or known_login(c.login, subject)
        if cfg is None or not login_ok:
            return Verdict(False, "wrong credentials")
        now = int(store.now())
        s = slot_of(cfg, now)
        matched = None
        for slot in (s - 1, s, s + 1):  # every one compared, whichever matches
            if hmac.compare_digest(token(cfg, slot).encode("utf-8"), c.token) and matched is None:
                matched = slot
        if matched is None:
            return Verdict(False, "wrong credentials")
        ttl = (matched + 2) * cfg.validity - now + 1
        if not store.first_use(matched % SLOT_MODULUS, max(1, ttl)):
            return Verdict(False, "TOTP slot already used")
        return Verdict(True, token_id=store.public_id)

    def challenge(self, subject: Subject) -> str:
        return challenge(self.name, [("realm", subject.realm)])

    def presented(self, credentials: TotpCredentials) -> bytes | None:
        return None  # a new token every slot


SCHEME = Totp()

"""Deciding whether a handshake's credentials prove a station's identity.

Pure apart from the argon2 verification, which the caller runs off the event loop
(through `admission`, which throttles first).
"""
import hmac
from dataclasses import dataclass, field
from enum import Enum

from . import basic
from .headers import MalformedAuthorization, split_authorization
from .keys import is_cheap, recently_verified, verify_secret

MAX_AUTHORIZATION_BYTES = 4096
KNOWN_SCHEMES = {"basic", "bearer", "digest", "token", "totp", "eap", "negotiate", "ntlm"}


class Decision(Enum):
    OK = "ok"
    CHALLENGE = "challenge"  # 401: missing or wrong credentials
    MALFORMED = "malformed"  # 400: an Authorization header we cannot parse
    THROTTLED = "throttled"  # 429: too many failures (admission.py), nothing was checked
    BUSY = "busy"  # 503: the hashing gate stayed full


@dataclass
class AuthResult:
    decision: Decision
    reason: str = ""
    challenges: list[str] = field(default_factory=list)
    key_hash: str = ""  # which stored key the station proved (OK only)
    hashes: int = 0  # argon2 verifications run: a failure that ran none costs nothing to throttle
    retry_after: int = 0  # THROTTLED and BUSY


def challenges_for(realm: str) -> list[str]:
    return [basic.challenge(realm)]


def read_basic(authorization: list[bytes], challenge: list[str]) -> basic.BasicCredentials | AuthResult:
    """The Basic credentials of the handshake's Authorization header(s), or the result
    that refuses them (none, several, too long, another scheme, malformed)."""
    if not authorization:
        return AuthResult(Decision.CHALLENGE, "no credentials", challenge)
    if len(authorization) > 1:
        return AuthResult(Decision.MALFORMED, "more than one Authorization header")
    if len(authorization[0]) > MAX_AUTHORIZATION_BYTES:
        return AuthResult(Decision.MALFORMED, "Authorization header too long")
    try:
        scheme, token = split_authorization(authorization[0])
        if scheme != "basic":
            # Only name schemes we know: a station that omits the scheme would otherwise
            # have its credentials echoed into the log.
            named = scheme if scheme in KNOWN_SCHEMES else "an unknown scheme"
            return AuthResult(Decision.CHALLENGE, f"{named} not allowed", challenge)
        return basic.parse_basic(token)
    except MalformedAuthorization as exc:
        return AuthResult(Decision.MALFORMED, str(exc))


def authenticate(*, identity: str, key_hashes: list[str], accept_hex: bool, realm: str,
                 authorization: list[bytes]) -> AuthResult:
    """Check the handshake's Authorization header(s) against the station's valid keys.

    `key_hashes` are the hashes the credential record accepts right now (one, or two
    while a change is unresolved); the result names the one that matched.
    """
    challenge = challenges_for(realm)
    credentials = read_basic(authorization, challenge)
    if isinstance(credentials, AuthResult):
        return credentials

    identity_ok = hmac.compare_digest(credentials.username, identity.encode("utf-8"))
    if not identity_ok:
        # One verification, as a right username with a wrong key would usually cost,
        # so timing does not tell which part failed; no more, so a wrong name cannot
        # buy an attacker several argon2 runs.
        first = key_hashes[0] if key_hashes else ""
        verify_secret(credentials.password or b"\0", first)
        return AuthResult(Decision.CHALLENGE, "wrong credentials", challenge, hashes=int(not is_cheap(first)))
    secret = basic.candidate_secret(credentials.password, accept_hex)
    if secret is None:  # empty or longer than any secret: nothing to verify
        return AuthResult(Decision.CHALLENGE, "wrong credentials", challenge)
    # A key this station proved a moment ago needs no argon2 run (lib/verified.py) ...
    slow = [h for h in key_hashes if not is_cheap(h)]
    for h in slow:
        if recently_verified.matches(h, secret):
            return AuthResult(Decision.OK, key_hash=h)
    # ... a generated key's cheap hash is checked every time; anything else costs one
    # argon2 run per valid key (two only while a change is unresolved).
    hashes = 0
    for h in key_hashes:
        cheap = is_cheap(h)
        hashes += not cheap
        if verify_secret(secret, h):
            if not cheap:
                recently_verified.remember(h, secret)
            return AuthResult(Decision.OK, key_hash=h, hashes=hashes)
    return AuthResult(Decision.CHALLENGE, "wrong credentials", challenge, hashes=hashes)

"""Deciding whether a handshake's credentials prove a station's identity.

Pure apart from the argon2 verification, which the caller runs off the event loop.
"""
import hmac
from dataclasses import dataclass, field
from enum import Enum

from . import basic
from .headers import MalformedAuthorization, split_authorization
from .keys import verify_secret

MAX_AUTHORIZATION_BYTES = 4096
KNOWN_SCHEMES = {"basic", "bearer", "digest", "token", "totp", "eap", "negotiate", "ntlm"}


class Decision(Enum):
    OK = "ok"
    CHALLENGE = "challenge"  # 401: missing or wrong credentials
    MALFORMED = "malformed"  # 400: an Authorization header we cannot parse


@dataclass
class AuthResult:
    decision: Decision
    reason: str = ""
    challenges: list[str] = field(default_factory=list)
    key_hash: str = ""  # which stored key the station proved (OK only)


def challenges_for(realm: str) -> list[str]:
    return [basic.challenge(realm)]


def authenticate(*, identity: str, key_hashes: list[str], accept_hex: bool, realm: str,
                 authorization: list[bytes]) -> AuthResult:
    """Check the handshake's Authorization header(s) against the station's valid keys.

    `key_hashes` are the hashes the credential record accepts right now (one, or two
    while a change is unresolved); the result names the one that matched.
    """
    challenge = challenges_for(realm)
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
        credentials = basic.parse_basic(token)
    except MalformedAuthorization as exc:
        return AuthResult(Decision.MALFORMED, str(exc))

    identity_ok = hmac.compare_digest(credentials.username, identity.encode("utf-8"))
    if not identity_ok:
        # One verification, as a right username with a wrong key would usually cost,
        # so timing does not tell which part failed; no more, so a wrong name cannot
        # buy an attacker several argon2 runs.
        verify_secret(credentials.password or b"\0", key_hashes[0] if key_hashes else "")
        return AuthResult(Decision.CHALLENGE, "wrong credentials", challenge)
    matched = ""
    for secret in basic.candidate_secrets(credentials.password, accept_hex):
        matched = next((h for h in key_hashes if verify_secret(secret, h)), "")
        if matched:
            break
    if identity_ok and matched:
        return AuthResult(Decision.OK, key_hash=matched)
    return AuthResult(Decision.CHALLENGE, "wrong credentials", challenge)

"""Deciding whether a handshake's credentials prove a station's identity.

Pure apart from the argon2 verification, which the caller runs off the event loop.
"""
import hmac
from dataclasses import dataclass, field
from enum import Enum

from . import basic
from .headers import MalformedAuthorization, split_authorization
from .keys import verify_key


class Decision(Enum):
    OK = "ok"
    CHALLENGE = "challenge"  # 401: missing or wrong credentials
    MALFORMED = "malformed"  # 400: an Authorization header we cannot parse


@dataclass
class AuthResult:
    decision: Decision
    reason: str = ""
    challenges: list[str] = field(default_factory=list)


def challenges_for(realm: str) -> list[str]:
    return [basic.challenge(realm)]


def authenticate(*, identity: str, key_hash: str, accept_hex: bool, realm: str,
                 authorization: list[bytes]) -> AuthResult:
    """Check the handshake's Authorization header(s) against the station's stored key."""
    challenge = challenges_for(realm)
    if not authorization:
        return AuthResult(Decision.CHALLENGE, "no credentials", challenge)
    if len(authorization) > 1:
        return AuthResult(Decision.MALFORMED, "more than one Authorization header")
    try:
        scheme, token = split_authorization(authorization[0])
        if scheme != "basic":
            return AuthResult(Decision.CHALLENGE, f"scheme {scheme} not allowed", challenge)
        credentials = basic.parse_basic(token)
    except MalformedAuthorization as exc:
        return AuthResult(Decision.MALFORMED, str(exc))

    identity_ok = hmac.compare_digest(credentials.username, identity.encode("utf-8"))
    key = basic.key_from_password(credentials.password, accept_hex)
    # Verify even when the username is wrong, so timing does not tell which part failed.
    key_ok = verify_key(key or b"\0" * basic.KEY_BYTES, key_hash)
    if identity_ok and key is not None and key_ok:
        return AuthResult(Decision.OK)
    return AuthResult(Decision.CHALLENGE, "wrong credentials", challenge)

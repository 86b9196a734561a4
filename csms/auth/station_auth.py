"""Deciding whether a handshake's credentials prove a station's identity.

One decision for every scheme: read the Authorization header (RFC 9110; malformed →
400), refuse a scheme the station may not use (401 with the challenges, even with valid
credentials: downgrade protection), let the scheme parse (its own rules → 400) and
verify its credentials. Every 401 carries one `WWW-Authenticate` per allowed scheme.

Pure: stored secrets are reached through the subject (`keys.StoredKeys`, whose argon2
runs are why the caller runs this off the event loop, through `admission`, which
throttles first).
"""
from . import basic, digest, token
from .headers import Credentials, MalformedAuthorization, read_authorization
from .schemes import AuthResult, Decision, Registry, Subject

__all__ = ["AuthResult", "Decision", "SCHEMES", "Subject", "authenticate", "challenges", "presented"]

SCHEMES = Registry(basic.SCHEME, token.SCHEME, digest.SCHEME)

# Scheme names a log may show; any other is "an unknown scheme" (a station that omits the
# scheme would otherwise have its credentials echoed into the log).
KNOWN_SCHEMES = {"basic", "bearer", "digest", "token", "totp", "eap", "negotiate", "ntlm"}


def challenges(subject: Subject, stale: bool = False) -> list[str]:
    """The WWW-Authenticate values of the schemes the station may use, in its order: one
    per scheme, or a scheme's several (Digest: one per algorithm, `stale` after a right
    response on an expired nonce). A method this CSMS has no scheme for, if a stored
    list names one, is skipped."""
    values: list[str] = []
    for method in subject.methods:
        scheme = SCHEMES.get(method)
        if scheme is None:
            continue
        several = getattr(scheme, "challenges", None)
        values.extend(several(subject, stale) if several else [scheme.challenge(subject)])
    return values


def authenticate(subject: Subject, authorization: list[bytes]) -> AuthResult:
    """Check the handshake's Authorization header(s) against what `subject` allows.

    The result names the stored key that matched and the scheme that proved it. From
    outside the station's group's networks nothing is checked, and the 401 carries no
    challenge: the white paper's one exception to them ("application level IP filter
    rules"), since no credentials would help."""
    if not subject.source_allowed:
        return AuthResult(Decision.CHALLENGE, "source address outside the group's networks")
    try:
        credentials = read_authorization(authorization)
        if credentials is None:
            return AuthResult(Decision.CHALLENGE, "no credentials", challenges(subject))
        scheme = _allowed_scheme(credentials, subject)
        if scheme is None:
            named = credentials.scheme if credentials.scheme in KNOWN_SCHEMES else "an unknown scheme"
            return AuthResult(Decision.CHALLENGE, f"{named} not allowed", challenges(subject))
        parsed = scheme.parse(credentials)
    except MalformedAuthorization as exc:
        return AuthResult(Decision.MALFORMED, str(exc))
    verdict = scheme.verify(parsed, subject)
    if verdict.ok:
        return AuthResult(Decision.OK, key_hash=verdict.key_hash, token_id=verdict.token_id,
                          method=scheme.name.lower(), info=verdict.info, hashes=verdict.hashes)
    return AuthResult(Decision.CHALLENGE, verdict.reason, challenges(subject, verdict.stale),
                      hashes=verdict.hashes)


def _allowed_scheme(credentials: Credentials, subject: Subject):
    if credentials.scheme not in subject.methods:
        return None
    return SCHEMES.get(credentials.scheme)


def presented(authorization: list[bytes], subject: Subject) -> bytes | None:
    """The secret the header presents, tagged with its scheme, if it is well-formed
    for a scheme the station may use and the scheme's secret is the same on every
    attempt (`Scheme.presented`); else None (anything else is the decision's to answer)."""
    try:
        credentials = read_authorization(authorization)
        scheme = None if credentials is None else _allowed_scheme(credentials, subject)
        if scheme is None:
            return None
        secret = scheme.presented(scheme.parse(credentials))
    except MalformedAuthorization:
        return None
    return None if secret is None else scheme.name.lower().encode("ascii") + b":" + secret

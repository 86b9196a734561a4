"""Deciding whether a handshake's credentials prove a station's identity.

One decision for every scheme: read the Authorization header (RFC 9110; malformed →
400), refuse a scheme the station may not use (401 with the challenges, even with valid
credentials: downgrade protection), let the scheme parse (its own rules → 400) and
verify its credentials. Every 401 carries one `WWW-Authenticate` per allowed scheme.

Pure: stored secrets are reached through the subject (`keys.StoredKeys`, whose argon2
runs are why the caller runs this off the event loop, through `admission`, which
throttles first).
"""
from lib.http_auth import Credentials, MalformedAuthorization, read_authorization

from . import basic, bearer, digest, eap, token, totp
from .schemes import AuthResult, Decision, Registry, Subject, Verdict

__all__ = ["AuthResult", "Decision", "SCHEMES", "Subject", "authenticate", "challenges", "presented"]

SCHEMES = Registry(basic.SCHEME, token.SCHEME, digest.SCHEME, totp.SCHEME, bearer.SCHEME, eap.SCHEME)

# Scheme names a log may show; any other is "an unknown scheme" (a station that omits the
# scheme would otherwise have its credentials echoed into the log).
KNOWN_SCHEMES = {"basic", "bearer", "digest", "token", "totp", "eap", "negotiate", "ntlm"}


def challenges(subject: Subject, stale: bool = False, refused: tuple[str, Verdict] | None = None) -> list[str]:
    """The WWW-Authenticate values of the schemes the station may use, in its order: one
    per scheme, or a scheme's several (Digest: one per algorithm, `stale` after a right
    response on an expired nonce). `refused`: (method, verdict) of credentials that were
    presented and refused: that scheme's value for this 401 is the verdict's own
    `challenge` if it has one (EAP's next round or its Failure), or the scheme's
    description of the refusal (Bearer's `error="invalid_token"`). A method this CSMS has
    no scheme for, if a stored list names one, is skipped."""
    values: list[str] = []
    for method in subject.methods:
        scheme = SCHEMES.get(method)
        if scheme is None:
            continue
        several = getattr(scheme, "challenges", None)
        describes = getattr(scheme, "refusal_challenge", None)
        verdict = refused[1] if refused is not None and refused[0] == method else None
        if verdict is not None and verdict.challenge:
            values.append(verdict.challenge)
        elif verdict is not None and describes and verdict.error:
            values.append(describes(subject, verdict))
        else:
            values.extend(several(subject, stale) if several else [scheme.challenge(subject)])
    return values


def authenticate(subject: Subject, authorization: list[bytes], totp_header: list[bytes] = ()) -> AuthResult:
    """Check the handshake's Authorization header(s) — or its `TOTP` header(s), the login
    being the URL's identity (totp-http-authentication.md §6) — against what `subject`
    allows. Both kinds at once are ambiguous: 400.

    The result names the stored key that matched and the scheme that proved it. From
    outside the station's group's networks nothing is checked, and the 401 carries no
    challenge: the white paper's one exception to them ("application level IP filter
    rules"), since no credentials would help."""
    if not subject.source_allowed:
        return AuthResult(Decision.CHALLENGE, "source address outside the group's networks")
    try:
        credentials = read_authorization(authorization)
        if totp_header:
            if credentials is not None:
                raise MalformedAuthorization("both an Authorization and a TOTP header")
            if "totp" not in subject.methods:
                return AuthResult(Decision.CHALLENGE, "totp not allowed", challenges(subject))
            scheme, parsed = totp.SCHEME, totp.parse_header(list(totp_header))
        else:
            if credentials is None:
                return AuthResult(Decision.CHALLENGE, "no credentials", challenges(subject))
            scheme, parsed = _scheme_and_parsed(credentials, subject)
            if scheme is None:
                named = credentials.scheme if credentials.scheme in KNOWN_SCHEMES else "an unknown scheme"
                return AuthResult(Decision.CHALLENGE, f"{named} not allowed", challenges(subject))
    except MalformedAuthorization as exc:
        return AuthResult(Decision.MALFORMED, str(exc))
    verdict = scheme.verify(parsed, subject)
    if verdict.ok:
        return AuthResult(Decision.OK, key_hash=verdict.key_hash, token_id=verdict.token_id,
                          method=scheme.name.lower(), info=verdict.info, hashes=verdict.hashes)
    return AuthResult(Decision.CHALLENGE, verdict.reason,
                      challenges(subject, verdict.stale, (scheme.name.lower(), verdict)), hashes=verdict.hashes)


def _scheme_and_parsed(credentials: Credentials, subject: Subject):
    """The scheme that answers these credentials, and its reading of them; (None, None)
    if the station may not use it. Basic may carry a TOTP token (the Basic binding,
    `totp.basic_binding`) for a station allowed TOTP: then TOTP answers, even where
    Basic itself is not allowed; raises `MalformedAuthorization`."""
    binding = credentials.scheme == "basic" and "totp" in subject.methods
    scheme = SCHEMES.get(credentials.scheme)
    if scheme is None or (credentials.scheme not in subject.methods and not binding):
        return None, None
    parsed = scheme.parse(credentials)
    if binding:
        as_totp = totp.basic_binding(parsed.username, parsed.password, subject)
        if as_totp is not None:
            return totp.SCHEME, as_totp
        if "basic" not in subject.methods:
            return None, None
    return scheme, parsed


def presented(authorization: list[bytes], subject: Subject) -> bytes | None:
    """The secret the header presents, tagged with its scheme, if it is well-formed
    for a scheme the station may use and the scheme's secret is the same on every
    attempt (`Scheme.presented`); else None (anything else is the decision's to answer)."""
    try:
        credentials = read_authorization(authorization)
        scheme, parsed = (None, None) if credentials is None else _scheme_and_parsed(credentials, subject)
        if scheme is None:
            return None
        secret = scheme.presented(parsed)
    except MalformedAuthorization:
        return None
    return None if secret is None else scheme.name.lower().encode("ascii") + b":" + secret

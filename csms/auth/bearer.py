"""`Authorization: Bearer <jwt>` for stations (RFC 6750): the access token a station
obtained from its tenant's authorization server with the jwt-bearer grant, an assertion
signed by its registered key (docs/station-auth.md, "Bearer").

The token must be one token68 (RFC 6750 §2.1's b64token is that grammar), within the
header bound, or 400. Then it must be, in this order, each refusal a 401 whose Bearer
challenge says `error="invalid_token"` with a short description (never the token):

* a compact JWS passing lib/jose.py's strict checks (canonical base64url, no duplicate
  members, no `crit`, `typ` `at+jwt`, `alg` in the server's explicit list — `none` and
  `HS*` never), signed by one of the tenant's published signing keys, found by `kid`;
* issued by the tenant's authorization server (`iss`), for its OCPP endpoint (`aud`),
  for this station (`sub` is the identity), unexpired (`exp`, `nbf`, `iat`, with
  `LEEWAY_SECONDS` for clocks), with a `jti`;
* unrevoked: checked before the connection claims the station, so a revoked token
  cannot take it over from its live connection, and after, as for tokens, so a
  revocation racing the handshake is not undone (`services.open_connection`).

Pure: the keys, issuer and audience come through `subject.bearer` (`BearerStore`), loaded
with the station row (`services.station_for_handshake`), from a per-process cache of the
tenant's signing keys (oauth/station_keys.py): no HTTP, no query per handshake. A check
is one signature verification (ES256 or PS256), microseconds, never argon2, so the
throttle does not count Bearer failures.
"""
from dataclasses import dataclass
from typing import Protocol

from lib import jose
from lib.http_auth import Credentials, challenge
from lib.station_authority import BearerKeys

from .schemes import Subject, Verdict

MAX_TOKEN_CHARS = 4096  # the Authorization header's bound (headers.MAX_AUTHORIZATION_BYTES)
LEEWAY_SECONDS = 5
ERROR = "invalid_token"

# error_description values (RFC 6750 §3: no '"' or '\'), by what failed.
NOT_A_TOKEN = "the token is not a signed JWT access token"
REFUSED_ALGORITHM = "unsigned and symmetric algorithms are refused"
UNKNOWN_KEY = "the token is not signed by a key of this tenant"
BAD_SIGNATURE = "the token signature does not verify"
WRONG_ISSUER = "the token is from another issuer"
WRONG_AUDIENCE = "the token is not for this OCPP endpoint"
WRONG_STATION = "the token is for another station"
EXPIRED = "the token has expired"
NOT_YET = "the token is not valid yet"
REVOKED = "the token is revoked or was never issued"
# Before its first token the tenant has no signing key: whatever was presented, it was
# not signed by this tenant (and saying "issues no tokens" sent operators looking for a
# switch that does not exist). Without an authorization server nothing issues them here.
NO_SIGNING_KEY = "the token is not from this tenant: it has no signing key yet"
NO_AUTHORIZATION_SERVER = "no authorization server here issues station tokens"


class BearerStore(Protocol):
    """The tenant's token keys and the clock (`keys.StoredBearer`)."""

    def keys(self) -> BearerKeys | None: ...

    def now(self) -> float: ...


@dataclass(frozen=True)
class BearerCredentials:
    token: str

    def __repr__(self):  # never let a token reach a log through repr()
        return f"BearerCredentials(<{len(self.token)} chars>)"


def refused(description: str, reason: str = "") -> Verdict:
    return Verdict(False, reason or f"bearer: {description}", error=ERROR, error_description=description)


_DESCRIPTION_OF = {
    jose.Reason.ALG_FORBIDDEN: REFUSED_ALGORITHM,
    jose.Reason.SIGNATURE_INVALID: BAD_SIGNATURE,
    jose.Reason.KEY_ALG_MISMATCH: BAD_SIGNATURE,
    jose.Reason.KEY_UNUSABLE: BAD_SIGNATURE,
    jose.Reason.KEY_TOO_WEAK: BAD_SIGNATURE,
    jose.Reason.AUD_MISSING: WRONG_AUDIENCE,
    jose.Reason.AUD_INVALID: WRONG_AUDIENCE,
    jose.Reason.AUD_MISMATCH: WRONG_AUDIENCE,
    jose.Reason.EXPIRED: EXPIRED,
    jose.Reason.NOT_YET_VALID: NOT_YET,
    jose.Reason.IAT_IN_FUTURE: NOT_YET,
}


def check(token: str, identity: str, keys: BearerKeys, now: float) -> Verdict:
    """Whether `token` is a valid access token of `keys`' server for station `identity`."""
    try:
        jti = _claims_check(token, identity, keys, now)
    except jose.Refused as exc:
        return refused(_DESCRIPTION_OF.get(exc.reason, NOT_A_TOKEN), f"bearer: {exc.reason}")
    except _Wrong as exc:
        return refused(exc.description)
    return Verdict(True, token_id=jti)


class _Wrong(Exception):
    def __init__(self, description: str):
        self.description = description


def _claims_check(token: str, identity: str, keys: BearerKeys, now: float) -> str:
    header_segment, _, signature = jose.split_compact_jws(token, MAX_TOKEN_CHARS)
    kid, alg = jose.check_header(jose.decode_header(header_segment), types=jose.ACCESS_TOKEN_TYPES,
                                 algorithms=keys.algorithms)
    found = keys.keys.get(kid)
    if found is None:
        raise _Wrong(UNKNOWN_KEY)
    key_alg, key = found
    if not signature or key_alg != alg:
        raise _Wrong(BAD_SIGNATURE)
    claims = jose.parse_claims(jose.verify_signature(token, key, alg, MAX_TOKEN_CHARS))
    if claims.get("iss") != keys.issuer:
        raise _Wrong(WRONG_ISSUER)
    jose.check_audience(claims, (keys.audience,))
    if claims.get("sub") != identity:
        raise _Wrong(WRONG_STATION)
    jose.check_expiry(claims, now, LEEWAY_SECONDS)
    jose.check_not_before(claims, now, LEEWAY_SECONDS)
    jose.check_issued_at(claims, now, LEEWAY_SECONDS)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise _Wrong(NOT_A_TOKEN)
    return jti


class Bearer:
    """The scheme plug-in (`schemes.Scheme`)."""

    name = "Bearer"

    def parse(self, credentials: Credentials) -> BearerCredentials:
        # token68 only (400 otherwise); within the header's bound, so no length rule here.
        return BearerCredentials(credentials.only_token68(self.name).decode("ascii"))

    def verify(self, credentials: BearerCredentials, subject: Subject) -> Verdict:
        store = subject.bearer
        keys = store.keys() if store is not None else None
        if keys is None:
            return refused(NO_AUTHORIZATION_SERVER)
        if not keys.keys:
            return refused(NO_SIGNING_KEY)
        return check(credentials.token, subject.identity, keys, store.now())

    def challenge(self, subject: Subject) -> str:
        return challenge(self.name, [("realm", subject.realm)])

    def refusal_challenge(self, subject: Subject, verdict: Verdict) -> str:
        """RFC 6750 §3: when a token was presented and refused, say so."""
        params = [("realm", subject.realm), ("error", verdict.error)]
        if verdict.error_description:
            params.append(("error_description", verdict.error_description))
        return challenge(self.name, params)

    def presented(self, credentials: BearerCredentials) -> bytes | None:
        return credentials.token.encode("ascii")


SCHEME = Bearer()

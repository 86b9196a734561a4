"""Validation of signed JWT assertions: the one validator behind the jwt-bearer grant
(RFC 7523 §2.1, ``assertion=``) and ``private_key_jwt`` client authentication (RFC 7523
§2.2, ``client_assertion=``), following OSDM's "Validation of identity token".

Pure logic: no database, no network, no clock. The caller hands in the trust records
(``find_records(kid)``), the audiences this server answers to and the current time, and
stores ``Verified.jti`` until ``Verified.expires_at`` to refuse replays (OSDM; RFC 7523
§3 item 7) — replay detection needs state, so it is not done here.

The rules, in the order they are applied. Each failure raises ``AssertionRejected`` with
its own ``reason`` and a description that is safe to return to the client (it never
echoes the token or any key material); ``error`` is ``invalid_grant`` for §2.1 and
``invalid_client`` for §2.2 (``invalid_scope`` for a requested scope beyond the grant).

Shape (before any parsing)
  1. At most ``max_bytes`` characters, ASCII only: an assertion is bounded input.
  2. JWS Compact Serialization: exactly three segments. Five segments is a JWE — refused,
     we verify signatures, we do not decrypt. Every segment is canonical unpadded
     base64url (RFC 7515 §2): padding, other alphabets and non-zero trailing bits are
     refused, so one token has exactly one spelling.

Header (parsed here, before verification, to choose the key; RFC 8725 §3.1)
  3. UTF-8 JSON object without duplicate member names (RFC 7515 §5.2 step 4: a parser
     that keeps the first and one that keeps the last must never see different headers).
  4. ``crit`` is refused: we implement no extension. ``b64`` (RFC 7797 unencoded payload)
     is refused as well.
  5. ``alg`` is mandatory. ``none`` in any spelling and every ``HS*`` algorithm are refused
     outright — also when a trust record lists them (RFC 8725 §3.1, §3.2; OSDM's two alg
     attacks). Otherwise it must be an asymmetric algorithm we support: RS256/384/512,
     PS256/384/512, ES256/384/512, EdDSA, Ed25519, Ed448.
  6. ``typ`` is mandatory (OSDM) and must be ``JWT``, compared case-insensitively; the
     media-type spelling ``application/jwt`` is the same type (RFC 7515 §4.1.9). Explicit
     typing (RFC 8725 §3.11) keeps other JWTs — our own ``at+jwt`` access tokens, for
     one — from being replayed as assertions.
  7. ``kid`` is mandatory (OSDM), a non-empty string of at most 256 characters.
  8. ``jku``, ``jwk``, ``x5u``, ``x5c`` (and the x5t thumbprints) are ignored: the key always
     comes from the trust record, never from the token. Unregistered header parameters
     are ignored too, as RFC 7515 §4 says when they are not ``crit``; registered ones we
     do not act on (``cty``) must still have their registered type.

Trust record (OSDM: "sub, kid and the public key match")
  9. ``find_records(kid)`` must return at least one record with that kid. When several
     share the kid (two consumers may pick the same one), the records whose
     issuer/subject equal the token's unverified ``iss``/``sub`` are tried first; that is
     a selection hint only — the record that is used must verify the signature, and the
     verified claims must equal *its* issuer and subject.
 10. ``alg`` is in the record's allowlist (forbidden algorithms in it count for nothing).
 11. The record is in force: not retired (``retired_at <= now`` is retired — OSDM: retire
     old keys shortly after rollover), and ``valid_from <= now <= valid_until`` (both
     ends inclusive, no leeway: the window is our own configuration, not the client's
     clock).
 12. The record's key fits ``alg`` (RFC 8725 §3.5, checked here rather than left to
     library errors): RS*/PS* need RSA of at least 2048 bits, ES256/384/512 need P-256/
     P-384/P-521, EdDSA needs Ed25519 or Ed448, Ed25519/Ed448 their curve. A JWK's own
     ``use``/``key_ops``/``alg`` members, if present, must allow signature verification
     with this ``alg``. A JWK carrying private members is refused: a trust store that
     holds private keys has a leak to fix. Only the public members are handed to joserfc.

Signature
 13. A signature is present and joserfc verifies it with only the record's key and
     ``algorithms=[alg]``. When several records share the kid, the first one whose key
     verifies is used; when none does, the refusal is the preferred record's.

Claims (RFC 7519 §4.1, RFC 7523 §3, OSDM's payload table; all after verification)
 14. The payload is a UTF-8 JSON object without duplicate member names; NaN/Infinity
     are not JSON and are refused.
 15. ``iss`` and ``sub`` are strings equal to the record's issuer and subject.
 16. Client authentication (§2.2) only: ``iss == sub == client_id`` (RFC 7523 §3, OpenID
     Connect private_key_jwt). The caller passes the request's ``client_id``, or the
     assertion's ``sub`` when the request had none; without a ``client_id`` we still
     require ``iss == sub``. For the grant (§2.1) ``client_id`` is ignored: its subject is
     the principal the token is for, not necessarily the client.
 17. ``aud`` is a string or a non-empty array of strings, and one of them is exactly one
     of ``audiences`` (RFC 7523 §3 item 3; simple string comparison).
 18. ``exp`` is mandatory and a JSON number (not a string, not a boolean, finite — OSDM's
     example with string timestamps is an erratum), and ``now < exp + leeway``.
 19. ``nbf``, if present, is a number and ``nbf - leeway <= now``.
 20. ``iat``, if present, is a number and ``iat - leeway <= now``.
 21. Lifetime: ``exp - (iat, or now without iat) <= max_lifetime_seconds``. An assertion
     valid for hours is a bearer credential for hours, and the jti store would have to
     remember it that long (RFC 7523 §3 item 4 lets us limit this).
 22. ``jti`` is mandatory (OSDM), a non-empty string of at most 256 characters. OSDM's
     example spells it ``iti``; that erratum is not accepted in its place.
 23. Scope: a ``scope`` claim, if present, is a space-separated string of RFC 6749 §3.3
     scope tokens, all in the record's scopes. ``requested_scopes`` (the request's
     ``scope`` parameter split on spaces; empty strings are dropped, so ``scope=`` is no
     request), if any remain, must be within the record's scopes and
     within the assertion's ``scope`` claim when it has one (the signer bounded the grant)
     — otherwise ``invalid_scope``. Granted (``Verified.scopes``): the requested scopes
     if any, else the assertion's ``scope``, else the record's scopes — the bilaterally
     agreed default (RFC 6749 §3.3). OSDM sends ``scope=uic_osdm`` in both places, and
     the record lists ``uic_osdm``, so it gets exactly ``uic_osdm``.

``Verified.expires_at`` is ``exp + leeway``, not ``exp``: we accept the assertion until
then, so its jti must be remembered until then too.

The JOSE-level rules (shape, header, key fit, signature, ``aud`` and the dates) are
``lib/jose.py``'s, shared with the Bearer station scheme (csms/auth/bearer.py); this
module adds the trust records, the assertion's own claims and the scopes.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol

from lib import jose
from lib.jose import (  # noqa: F401  (MAX_KID_LENGTH .. SUPPORTED_ALGORITHMS: the rules' names, for callers)
    EC_CURVES,
    MAX_KID_LENGTH,
    MIN_RSA_BITS,
    OKP_CURVES,
    RSA_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    check_audience,
    check_expiry,
    check_issued_at,
    check_not_before,
    decode_header,
    key_fitting,
    parse_claims,
    split_compact_jws,
    verify_signature,
)

Purpose = Literal["grant", "client_auth"]

ERROR_FOR_PURPOSE: dict[str, str] = {"grant": "invalid_grant", "client_auth": "invalid_client"}

MAX_JTI_LENGTH = 256

SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3


# --- trust records ------------------------------------------------------------------------

class TrustRecord(Protocol):
    """Who may sign assertions with which key, for what, and when (OSDM's stored
    (sub, kid, public key) triplet, plus the issuer, algorithms and rollover window).
    Read-only properties, so both a Django model and a frozen dataclass fit."""

    @property
    def issuer(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def kid(self) -> str: ...
    @property
    def public_jwk(self) -> Mapping[str, Any]: ...
    @property
    def algorithms(self) -> Sequence[str]: ...
    @property
    def scopes(self) -> Sequence[str]: ...
    @property
    def valid_from(self) -> datetime | None: ...
    @property
    def valid_until(self) -> datetime | None: ...
    @property
    def retired_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Record:
    """A plain trust record, for tests and for callers that keep records outside the ORM."""

    issuer: str
    subject: str
    kid: str
    public_jwk: Mapping[str, Any]
    algorithms: Sequence[str]
    scopes: Sequence[str] = ()
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    retired_at: datetime | None = None


@dataclass(frozen=True)
class Verified:
    """An assertion that passed every rule. Store ``jti`` until ``expires_at``."""

    claims: dict[str, Any]
    record: TrustRecord
    jti: str
    expires_at: datetime
    scopes: tuple[str, ...]


# --- rejections -----------------------------------------------------------------------------

# Why an assertion was refused: one value per rule, stable for tests and logs. The JOSE
# rules' reasons are lib.jose's (same names and values), followed by this module's own.
Reason = StrEnum("Reason", [(r.name, r.value) for r in jose.Reason] + [(name.upper(), name) for name in (
    "kid_unknown", "alg_not_allowed", "key_retired", "key_not_yet_valid", "key_expired",
    "iss_missing", "iss_mismatch", "sub_missing", "sub_mismatch", "client_id_mismatch",
    "lifetime_too_long", "jti_missing", "jti_spelled_iti", "jti_invalid", "scope_invalid",
    "scope_not_allowed", "requested_scope_invalid", "requested_scope_not_allowed")])


# Returned to clients as error_description: RFC 6749 §5.2 allows no '"' and no '\'.
DESCRIPTIONS: dict[Reason, str] = {
    Reason.OVERSIZED: "the assertion is larger than this server accepts",
    Reason.NOT_COMPACT_JWS: "the assertion is not a JWS in compact serialization (three segments)",
    Reason.ENCRYPTED: "encrypted (JWE) assertions are not accepted; send a signed JWT",
    Reason.SEGMENT_NOT_BASE64URL: "an assertion segment is not canonical unpadded base64url",
    Reason.HEADER_MALFORMED: "the assertion header is not UTF-8 JSON",
    Reason.HEADER_DUPLICATE_MEMBER: "the assertion header repeats a member name",
    Reason.HEADER_NOT_OBJECT: "the assertion header is not a JSON object",
    Reason.HEADER_INVALID: "a registered header parameter of the assertion has an invalid value",
    Reason.CRIT_UNSUPPORTED: "the assertion header lists critical extensions (crit); none are supported",
    Reason.B64_UNSUPPORTED: "unencoded payloads (b64 header, RFC 7797) are not accepted",
    Reason.TYP_MISSING: "the assertion header must carry typ 'JWT'",
    Reason.TYP_WRONG: "the assertion header typ must be 'JWT'",
    Reason.KID_MISSING: "the assertion header must carry a kid",
    Reason.KID_INVALID: "the assertion header kid must be a non-empty string of at most 256 characters",
    Reason.ALG_MISSING: "the assertion header must carry an alg string",
    Reason.ALG_FORBIDDEN: "unsigned (none) and symmetric (HS*) algorithms are never accepted",
    Reason.ALG_UNSUPPORTED: "the assertion's signing algorithm is not supported",
    Reason.KID_UNKNOWN: "no key is registered under the assertion's kid",
    Reason.ALG_NOT_ALLOWED: "the signing algorithm is not allowed for this key",
    Reason.KEY_RETIRED: "the key for this kid has been retired",
    Reason.KEY_NOT_YET_VALID: "the key for this kid is not valid yet",
    Reason.KEY_EXPIRED: "the key for this kid is no longer valid",
    Reason.KEY_UNUSABLE: "the key registered for this kid cannot be used to verify signatures",
    Reason.KEY_ALG_MISMATCH: "the key registered for this kid does not fit the signing algorithm",
    Reason.KEY_TOO_WEAK: "the key registered for this kid is too weak (RSA needs at least 2048 bits)",
    Reason.SIGNATURE_MISSING: "the assertion has no signature",
    Reason.SIGNATURE_INVALID: "the assertion's signature does not verify with the registered key",
    Reason.PAYLOAD_MALFORMED: "the assertion payload is not UTF-8 JSON",
    Reason.PAYLOAD_DUPLICATE_MEMBER: "the assertion payload repeats a member name",
    Reason.PAYLOAD_NOT_OBJECT: "the assertion payload is not a JSON object",
    Reason.ISS_MISSING: "the assertion must carry an iss string",
    Reason.ISS_MISMATCH: "the assertion's iss is not the issuer registered for this key",
    Reason.SUB_MISSING: "the assertion must carry a sub string",
    Reason.SUB_MISMATCH: "the assertion's sub is not the subject registered for this key",
    Reason.CLIENT_ID_MISMATCH: "for client authentication, iss and sub must both be the client_id",
    Reason.AUD_MISSING: "the assertion must carry an aud",
    Reason.AUD_INVALID: "the assertion's aud must be a string or a non-empty array of strings",
    Reason.AUD_MISMATCH: "the assertion's aud does not name this server",
    Reason.EXP_MISSING: "the assertion must carry an exp",
    Reason.EXP_NOT_NUMBER: "the assertion's exp must be a JSON number of seconds since the epoch",
    Reason.EXPIRED: "the assertion has expired",
    Reason.NBF_NOT_NUMBER: "the assertion's nbf must be a JSON number of seconds since the epoch",
    Reason.NOT_YET_VALID: "the assertion is not valid yet (nbf)",
    Reason.IAT_NOT_NUMBER: "the assertion's iat must be a JSON number of seconds since the epoch",
    Reason.IAT_IN_FUTURE: "the assertion's iat is in the future",
    Reason.LIFETIME_TOO_LONG: "the assertion is valid for longer than this server accepts",
    Reason.JTI_MISSING: "the assertion must carry a jti",
    Reason.JTI_SPELLED_ITI: "the assertion must carry a jti; iti is not accepted in its place",
    Reason.JTI_INVALID: "the assertion's jti must be a non-empty string of at most 256 characters",
    Reason.SCOPE_INVALID: "the assertion's scope must be a space-separated string of scope tokens",
    Reason.SCOPE_NOT_ALLOWED: "the assertion's scope exceeds the scopes registered for this key",
    Reason.REQUESTED_SCOPE_INVALID: "the requested scope is malformed",
    Reason.REQUESTED_SCOPE_NOT_ALLOWED: "the requested scope exceeds what this assertion may be granted",
}

_ERROR_OVERRIDES = {
    Reason.REQUESTED_SCOPE_INVALID: "invalid_scope",
    Reason.REQUESTED_SCOPE_NOT_ALLOWED: "invalid_scope",
}


class AssertionRejected(ValueError):
    """The assertion is refused. ``error`` is the OAuth error code, ``description`` is
    safe to send to the client, ``reason`` says which rule failed (for tests and logs)."""

    def __init__(self, error: str, description: str, reason: str | None = None):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.reason = reason

    @classmethod
    def because(cls, reason: Reason, purpose: Purpose) -> AssertionRejected:
        error = _ERROR_OVERRIDES.get(reason, ERROR_FOR_PURPOSE[purpose])
        return cls(error, DESCRIPTIONS[reason], reason)


# A rule failed (lib.jose.Refused, raised by the shared checks and by this module's own);
# `validate` turns it into an AssertionRejected for its purpose.
_Broken = jose.Refused


# --- the validator --------------------------------------------------------------------------

def validate(
    token: str,
    *,
    purpose: Purpose,
    find_records: Callable[[str], Iterable[TrustRecord]],
    audiences: Collection[str],
    now: datetime,
    leeway_seconds: int = 30,
    max_lifetime_seconds: int = 600,
    max_bytes: int = 8192,
    requested_scopes: Collection[str] | None = None,
    client_id: str | None = None,
) -> Verified:
    """Check ``token`` against every rule in this module's docstring, or raise
    ``AssertionRejected``. Bad arguments (a programming error, not a bad token) raise
    ``TypeError``/``ValueError`` instead, so they surface as server errors."""
    _check_arguments(token, purpose, audiences, now, leeway_seconds, max_lifetime_seconds, max_bytes,
                     requested_scopes)
    try:
        return _validate(token, purpose=purpose, find_records=find_records, audiences=audiences,
                         now=now.timestamp(), leeway=leeway_seconds, max_lifetime=max_lifetime_seconds,
                         max_bytes=max_bytes, requested_scopes=requested_scopes, client_id=client_id)
    except _Broken as broken:
        raise AssertionRejected.because(Reason(broken.reason), purpose) from broken.__cause__


def _check_arguments(token, purpose, audiences, now, leeway, max_lifetime, max_bytes, requested_scopes):
    if not isinstance(token, str):
        raise TypeError("token must be a str")
    if purpose not in ERROR_FOR_PURPOSE:
        raise ValueError(f"purpose must be one of {sorted(ERROR_FOR_PURPOSE)}")
    if isinstance(audiences, str) or not audiences:
        raise ValueError("audiences must be a non-empty collection of strings")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    if leeway < 0 or max_lifetime <= 0 or max_bytes <= 0:
        raise ValueError("leeway must be >= 0, max_lifetime_seconds and max_bytes > 0")
    if isinstance(requested_scopes, str):
        raise TypeError("requested_scopes must be a collection of scope tokens, not one string")


def _validate(token: str, *, purpose, find_records, audiences, now: float, leeway: int, max_lifetime: int,
              max_bytes: int, requested_scopes, client_id) -> Verified:
    header_segment, payload_segment, signature_segment = split_compact_jws(token, max_bytes)
    header = decode_header(header_segment)
    kid, alg = check_header(header)
    candidates = [record for record in find_records(kid) if record.kid == kid]
    if not candidates:
        raise _Broken(Reason.KID_UNKNOWN)
    if not signature_segment:
        raise _Broken(Reason.SIGNATURE_MISSING)
    record, payload = verify_with_first_fitting_record(
        prefer_claimed_signer(candidates, payload_segment), token, alg, now, max_bytes)

    claims = parse_claims(payload)
    check_issuer_and_subject(claims, record)
    if purpose == "client_auth":
        check_client_identity(claims, client_id)
    check_audience(claims, audiences)
    exp = check_expiry(claims, now, leeway)
    check_not_before(claims, now, leeway)
    iat = check_issued_at(claims, now, leeway)
    check_lifetime(exp, iat, now, max_lifetime)
    jti = check_jti(claims)
    scopes = granted_scopes(claims, record, requested_scopes)
    expires_at = datetime.fromtimestamp(exp, UTC) + timedelta(seconds=leeway)
    return Verified(claims=claims, record=record, jti=jti, expires_at=expires_at, scopes=scopes)


# --- header ---------------------------------------------------------------------------------

def check_header(header: dict) -> tuple[str, str]:
    """Rules 4 to 8 (lib.jose.check_header): an assertion is typed JWT, signed with an
    asymmetric algorithm we support; returns (kid, alg)."""
    return jose.check_header(header, types=jose.JWT_TYPES, algorithms=SUPPORTED_ALGORITHMS)


# --- trust record ---------------------------------------------------------------------------

def prefer_claimed_signer(candidates: list[TrustRecord], payload_segment: str) -> list[TrustRecord]:
    """Order records sharing a kid so the one for the token's (unverified) iss/sub comes
    first. Only an ordering: trust still comes from the signature and the verified claims."""
    if len(candidates) < 2:
        return candidates
    claims = jose.unverified_claims(payload_segment)
    if claims is None:
        return candidates
    claimed = (claims.get("iss"), claims.get("sub"))
    return sorted(candidates, key=lambda record: (record.issuer, record.subject) != claimed)


def verify_with_first_fitting_record(candidates: list[TrustRecord], token: str, alg: str, now: float,
                                     max_bytes: int) -> tuple[TrustRecord, bytes]:
    """Return the first record whose key verifies the token, with the verified payload;
    when none does, report why the first (the preferred) one failed."""
    first_failure: _Broken | None = None
    for record in candidates:
        try:
            return record, verify_signature(token, public_key_for(record, alg, now), alg, max_bytes)
        except _Broken as broken:
            first_failure = first_failure or broken
    assert first_failure is not None
    raise first_failure


def public_key_for(record: TrustRecord, alg: str, now: float):
    require_alg_allowed(record, alg)
    require_record_in_force(record, now)
    return key_fitting(record.public_jwk, alg)


def require_alg_allowed(record: TrustRecord, alg: str) -> None:
    """The record's allowlist pins the algorithm (OSDM); a listed none/HS* counts for nothing."""
    allowed = {name for name in record.algorithms if name in SUPPORTED_ALGORITHMS}
    if alg not in allowed:
        raise _Broken(Reason.ALG_NOT_ALLOWED)


def require_record_in_force(record: TrustRecord, now: float) -> None:
    """Retired keys are dead (OSDM: an old, leaked key must not work after rollover);
    otherwise the key is usable from valid_from to valid_until, both inclusive."""
    if record.retired_at is not None and record.retired_at.timestamp() <= now:
        raise _Broken(Reason.KEY_RETIRED)
    if record.valid_from is not None and now < record.valid_from.timestamp():
        raise _Broken(Reason.KEY_NOT_YET_VALID)
    if record.valid_until is not None and now > record.valid_until.timestamp():
        raise _Broken(Reason.KEY_EXPIRED)


# --- claims ---------------------------------------------------------------------------------

def check_issuer_and_subject(claims: dict, record: TrustRecord) -> None:
    """OSDM: the key, the kid and the subject belong together — a consumer must not sign
    for another consumer's username with its own key."""
    if not isinstance(claims.get("iss"), str):
        raise _Broken(Reason.ISS_MISSING)
    if claims["iss"] != record.issuer:
        raise _Broken(Reason.ISS_MISMATCH)
    if not isinstance(claims.get("sub"), str):
        raise _Broken(Reason.SUB_MISSING)
    if claims["sub"] != record.subject:
        raise _Broken(Reason.SUB_MISMATCH)


def check_client_identity(claims: dict, client_id: str | None) -> None:
    """RFC 7523 §3 (sub is the client_id) and OpenID Connect private_key_jwt (so is iss)."""
    if claims["iss"] != claims["sub"] or (client_id is not None and claims["sub"] != client_id):
        raise _Broken(Reason.CLIENT_ID_MISMATCH)


def check_lifetime(exp: float, iat: float | None, now: float, max_lifetime: int) -> None:
    """Short-lived assertions only: without iat, the remaining lifetime counts."""
    if exp - (now if iat is None else iat) > max_lifetime:
        raise _Broken(Reason.LIFETIME_TOO_LONG)


def check_jti(claims: dict) -> str:
    """OSDM makes jti mandatory, for replay detection by the caller."""
    if "jti" not in claims:
        raise _Broken(Reason.JTI_SPELLED_ITI if "iti" in claims else Reason.JTI_MISSING)
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise _Broken(Reason.JTI_INVALID)
    return jti


# --- scope ----------------------------------------------------------------------------------

def granted_scopes(claims: dict, record: TrustRecord, requested: Collection[str] | None) -> tuple[str, ...]:
    """Requested, else asserted, else the record's scopes; never beyond the record, and
    never beyond what the signer asserted."""
    registered = _unique(record.scopes)
    asserted = asserted_scopes(claims)
    if asserted is not None and not set(asserted) <= set(registered):
        raise _Broken(Reason.SCOPE_NOT_ALLOWED)
    requested = [scope for scope in requested or () if scope != ""]  # "a  b".split(" ") leaves ""s
    if requested:
        if not all(isinstance(scope, str) and SCOPE_TOKEN.fullmatch(scope) for scope in requested):
            raise _Broken(Reason.REQUESTED_SCOPE_INVALID)
        wanted = _unique(requested)
        if not set(wanted) <= set(asserted if asserted is not None else registered):
            raise _Broken(Reason.REQUESTED_SCOPE_NOT_ALLOWED)
        return wanted
    return asserted if asserted is not None else registered


def asserted_scopes(claims: dict) -> tuple[str, ...] | None:
    if "scope" not in claims:
        return None
    scope = claims["scope"]
    if not isinstance(scope, str):
        raise _Broken(Reason.SCOPE_INVALID)
    tokens = _unique(token for token in scope.split(" ") if token)
    if not tokens or not all(SCOPE_TOKEN.fullmatch(token) for token in tokens):
        raise _Broken(Reason.SCOPE_INVALID)
    return tokens


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))

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
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key
from joserfc.registry import HeaderParameter

Purpose = Literal["grant", "client_auth"]

ERROR_FOR_PURPOSE: dict[str, str] = {"grant": "invalid_grant", "client_auth": "invalid_client"}

MAX_KID_LENGTH = 256
MAX_JTI_LENGTH = 256
MIN_RSA_BITS = 2048

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
OKP_CURVES = {"EdDSA": frozenset({"Ed25519", "Ed448"}), "Ed25519": frozenset({"Ed25519"}),
              "Ed448": frozenset({"Ed448"})}
SUPPORTED_ALGORITHMS = RSA_ALGORITHMS | EC_CURVES.keys() | OKP_CURVES.keys()

_KEY_TYPE_FOR_ALG = {**dict.fromkeys(RSA_ALGORITHMS, "RSA"), **dict.fromkeys(EC_CURVES, "EC"),
                     **dict.fromkeys(OKP_CURVES, "OKP")}
_PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_IGNORED_KEY_HINTS = ("jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256")
_JWT_TYPES = frozenset({"jwt", "application/jwt"})

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3


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

class Reason(StrEnum):
    """Why an assertion was refused: one value per rule, stable for tests and logs."""

    OVERSIZED = "oversized"
    NOT_COMPACT_JWS = "not_compact_jws"
    ENCRYPTED = "encrypted"
    SEGMENT_NOT_BASE64URL = "segment_not_base64url"
    HEADER_MALFORMED = "header_malformed"
    HEADER_DUPLICATE_MEMBER = "header_duplicate_member"
    HEADER_NOT_OBJECT = "header_not_object"
    HEADER_INVALID = "header_invalid"
    CRIT_UNSUPPORTED = "crit_unsupported"
    B64_UNSUPPORTED = "b64_unsupported"
    TYP_MISSING = "typ_missing"
    TYP_WRONG = "typ_wrong"
    KID_MISSING = "kid_missing"
    KID_INVALID = "kid_invalid"
    ALG_MISSING = "alg_missing"
    ALG_FORBIDDEN = "alg_forbidden"
    ALG_UNSUPPORTED = "alg_unsupported"
    KID_UNKNOWN = "kid_unknown"
    ALG_NOT_ALLOWED = "alg_not_allowed"
    KEY_RETIRED = "key_retired"
    KEY_NOT_YET_VALID = "key_not_yet_valid"
    KEY_EXPIRED = "key_expired"
    KEY_UNUSABLE = "key_unusable"
    KEY_ALG_MISMATCH = "key_alg_mismatch"
    KEY_TOO_WEAK = "key_too_weak"
    SIGNATURE_MISSING = "signature_missing"
    SIGNATURE_INVALID = "signature_invalid"
    PAYLOAD_MALFORMED = "payload_malformed"
    PAYLOAD_DUPLICATE_MEMBER = "payload_duplicate_member"
    PAYLOAD_NOT_OBJECT = "payload_not_object"
    ISS_MISSING = "iss_missing"
    ISS_MISMATCH = "iss_mismatch"
    SUB_MISSING = "sub_missing"
    SUB_MISMATCH = "sub_mismatch"
    CLIENT_ID_MISMATCH = "client_id_mismatch"
    AUD_MISSING = "aud_missing"
    AUD_INVALID = "aud_invalid"
    AUD_MISMATCH = "aud_mismatch"
    EXP_MISSING = "exp_missing"
    EXP_NOT_NUMBER = "exp_not_number"
    EXPIRED = "expired"
    NBF_NOT_NUMBER = "nbf_not_number"
    NOT_YET_VALID = "not_yet_valid"
    IAT_NOT_NUMBER = "iat_not_number"
    IAT_IN_FUTURE = "iat_in_future"
    LIFETIME_TOO_LONG = "lifetime_too_long"
    JTI_MISSING = "jti_missing"
    JTI_SPELLED_ITI = "jti_spelled_iti"
    JTI_INVALID = "jti_invalid"
    SCOPE_INVALID = "scope_invalid"
    SCOPE_NOT_ALLOWED = "scope_not_allowed"
    REQUESTED_SCOPE_INVALID = "requested_scope_invalid"
    REQUESTED_SCOPE_NOT_ALLOWED = "requested_scope_not_allowed"


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


class _Broken(Exception):
    """A rule failed; ``validate`` turns it into an AssertionRejected for its purpose."""

    def __init__(self, reason: Reason):
        super().__init__(reason)
        self.reason = reason


class _DuplicateMember(Exception):
    pass


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
        raise AssertionRejected.because(broken.reason, purpose) from broken.__cause__


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
    header = decode_json_object(header_segment, Reason.HEADER_DUPLICATE_MEMBER, Reason.HEADER_MALFORMED,
                                Reason.HEADER_NOT_OBJECT)
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


# --- shape ----------------------------------------------------------------------------------

def split_compact_jws(token: str, max_bytes: int) -> tuple[str, str, str]:
    """Bound the input before any work, then insist on the compact JWS shape."""
    if len(token) > max_bytes:
        raise _Broken(Reason.OVERSIZED)
    if not token.isascii():
        raise _Broken(Reason.NOT_COMPACT_JWS)
    segments = token.split(".")
    if len(segments) == 5:
        raise _Broken(Reason.ENCRYPTED)
    if len(segments) != 3 or not segments[0] or not segments[1]:
        raise _Broken(Reason.NOT_COMPACT_JWS)
    if not all(_is_canonical_base64url(segment) for segment in segments):
        raise _Broken(Reason.SEGMENT_NOT_BASE64URL)
    return segments[0], segments[1], segments[2]


def _is_canonical_base64url(segment: str) -> bool:
    try:
        _b64url_decode(segment)
    except ValueError:
        return False
    return True


def _b64url_decode(segment: str) -> bytes:
    """Unpadded base64url, canonical only: re-encoding must give the same text, so the
    bytes that were signed have exactly one spelling."""
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as err:
        raise ValueError("not base64url") from err
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise ValueError("not canonical base64url")
    return raw


def decode_json_object(segment: str, duplicate: Reason, malformed: Reason, not_object: Reason) -> dict:
    return _json_object(_b64url_decode(segment), duplicate, malformed, not_object)


def _json_object(raw: bytes, duplicate: Reason, malformed: Reason, not_object: Reason) -> dict:
    """Strict JSON: UTF-8, no duplicate member names anywhere, no NaN/Infinity."""
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_refuse_duplicates,
                           parse_constant=_refuse_non_json_constant)
    except _DuplicateMember:
        raise _Broken(duplicate) from None
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _Broken(malformed) from None
    if not isinstance(value, dict):
        raise _Broken(not_object)
    return value


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _DuplicateMember()
    return members


def _refuse_non_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# --- header ---------------------------------------------------------------------------------

def check_header(header: dict) -> tuple[str, str]:
    """The header rules, in order; returns (kid, alg) for choosing and using the key."""
    refuse_extensions(header)
    alg = require_asymmetric_alg(header)
    require_jwt_type(header)
    kid = require_kid(header)
    require_registered_values(header)
    return kid, alg


def refuse_extensions(header: dict) -> None:
    """We understand no extension, so a ``crit`` header can never be honoured (RFC 7515
    §4.1.11); ``b64`` changes what was signed (RFC 7797) and is never needed here."""
    if "crit" in header:
        raise _Broken(Reason.CRIT_UNSUPPORTED)
    if "b64" in header:
        raise _Broken(Reason.B64_UNSUPPORTED)


def require_jwt_type(header: dict) -> None:
    """Explicit typing (RFC 8725 §3.11), OSDM's fixed value. RFC 7515 §4.1.9: typ is a
    media type, compared case-insensitively, with 'application/' optional."""
    if "typ" not in header:
        raise _Broken(Reason.TYP_MISSING)
    typ = header["typ"]
    if not isinstance(typ, str) or typ.casefold() not in _JWT_TYPES:
        raise _Broken(Reason.TYP_WRONG)


def require_kid(header: dict) -> str:
    """OSDM makes kid mandatory: it names the trust record, and so the key."""
    if "kid" not in header:
        raise _Broken(Reason.KID_MISSING)
    kid = header["kid"]
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise _Broken(Reason.KID_INVALID)
    return kid


def require_asymmetric_alg(header: dict) -> str:
    """``none`` and HMAC are refused before anything else looks at the token: with them,
    anyone who knows the public key could mint assertions (RFC 8725 §3.1, §3.2)."""
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise _Broken(Reason.ALG_MISSING)
    if is_forbidden_algorithm(alg):
        raise _Broken(Reason.ALG_FORBIDDEN)
    if alg not in SUPPORTED_ALGORITHMS:
        raise _Broken(Reason.ALG_UNSUPPORTED)
    return alg


def is_forbidden_algorithm(alg: str) -> bool:
    return alg.casefold() == "none" or alg.upper().startswith("HS")


def require_registered_values(header: dict) -> None:
    """Registered parameters we do not act on must still have their registered types
    (cty a string, ...), so joserfc accepts exactly the headers we accepted."""
    try:
        _signature_registry(header["alg"], max_bytes=0).check_header(header)
    except (JoseError, ValueError):
        raise _Broken(Reason.HEADER_INVALID) from None


def _signature_registry(alg: str, *, max_bytes: int) -> jws.JWSRegistry:
    """A joserfc registry that knows exactly one algorithm. Key hints in the header are
    accepted in any shape because they are never used; unregistered parameters are
    ignored (not ``crit``, which was refused before)."""
    ignored = {name: HeaderParameter("ignored: the key comes from the trust record", _ignore)
               for name in _IGNORED_KEY_HINTS}
    registry = jws.JWSRegistry(header_registry=ignored, algorithms=[alg], strict_check_header=False)
    if max_bytes:
        registry.max_header_length = registry.max_payload_length = registry.max_signature_length = max_bytes
    return registry


def _ignore(_value: Any) -> None:
    return None


# --- trust record ---------------------------------------------------------------------------

def prefer_claimed_signer(candidates: list[TrustRecord], payload_segment: str) -> list[TrustRecord]:
    """Order records sharing a kid so the one for the token's (unverified) iss/sub comes
    first. Only an ordering: trust still comes from the signature and the verified claims."""
    if len(candidates) < 2:
        return candidates
    try:
        claims = _json_object(_b64url_decode(payload_segment), Reason.PAYLOAD_DUPLICATE_MEMBER,
                              Reason.PAYLOAD_MALFORMED, Reason.PAYLOAD_NOT_OBJECT)
    except (_Broken, ValueError):
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


def key_fitting(jwk: Mapping[str, Any], alg: str) -> RSAKey | ECKey | OKPKey:
    """The record's public key, proven to fit ``alg`` before joserfc sees it
    (RFC 8725 §3.5), built from the public members only."""
    if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kty"), str):
        raise _Broken(Reason.KEY_UNUSABLE)
    if _PRIVATE_MEMBERS & jwk.keys():
        raise _Broken(Reason.KEY_UNUSABLE)
    require_key_allows_verification(jwk, alg)
    kty = _KEY_TYPE_FOR_ALG[alg]
    if jwk["kty"] != kty:
        raise _Broken(Reason.KEY_ALG_MISMATCH)
    if kty == "RSA" and _rsa_modulus_bits(jwk) < MIN_RSA_BITS:
        raise _Broken(Reason.KEY_TOO_WEAK)
    key = _import_public_key(jwk, kty)
    if isinstance(key, ECKey) and key.curve_name != EC_CURVES[alg]:
        raise _Broken(Reason.KEY_ALG_MISMATCH)
    if isinstance(key, OKPKey) and key.curve_name not in OKP_CURVES[alg]:
        raise _Broken(Reason.KEY_ALG_MISMATCH)
    return key


def require_key_allows_verification(jwk: Mapping[str, Any], alg: str) -> None:
    """A JWK may restrict itself (RFC 7517 §4.2-4.4); honour that rather than override it."""
    if "use" in jwk and jwk["use"] != "sig":
        raise _Broken(Reason.KEY_UNUSABLE)
    if "key_ops" in jwk and (not isinstance(jwk["key_ops"], list) or "verify" not in jwk["key_ops"]):
        raise _Broken(Reason.KEY_UNUSABLE)
    if "alg" in jwk and jwk["alg"] != alg:
        raise _Broken(Reason.KEY_ALG_MISMATCH)


def _rsa_modulus_bits(jwk: Mapping[str, Any]) -> int:
    """Measured before import, so a weak key is refused by our rule, not a library warning."""
    try:
        return int.from_bytes(_b64url_decode(jwk["n"]), "big").bit_length()
    except (KeyError, TypeError, ValueError):
        raise _Broken(Reason.KEY_UNUSABLE) from None


def _import_public_key(jwk: Mapping[str, Any], kty: str) -> RSAKey | ECKey | OKPKey:
    members = _PUBLIC_MEMBERS[kty]
    if not all(isinstance(jwk.get(member), str) for member in members):
        raise _Broken(Reason.KEY_UNUSABLE)
    try:
        return import_key({"kty": kty, **{member: jwk[member] for member in members}}, kty)
    except (JoseError, ValueError, TypeError) as err:  # bad encodings, points off the curve
        raise _Broken(Reason.KEY_UNUSABLE) from err


# --- signature ------------------------------------------------------------------------------

def verify_signature(token: str, key: RSAKey | ECKey | OKPKey, alg: str, max_bytes: int) -> bytes:
    """joserfc verifies, with the record's key and the one algorithm already vetted."""
    try:
        verified = jws.deserialize_compact(token, key, algorithms=[alg],
                                           registry=_signature_registry(alg, max_bytes=max_bytes))
    except (JoseError, ValueError) as err:
        raise _Broken(Reason.SIGNATURE_INVALID) from err
    return verified.payload


# --- claims ---------------------------------------------------------------------------------

def parse_claims(payload: bytes) -> dict[str, Any]:
    return _json_object(payload, Reason.PAYLOAD_DUPLICATE_MEMBER, Reason.PAYLOAD_MALFORMED,
                        Reason.PAYLOAD_NOT_OBJECT)


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


def check_audience(claims: dict, audiences: Collection[str]) -> None:
    """RFC 7523 §3 item 3: the assertion names this server, or it was meant for another."""
    if "aud" not in claims:
        raise _Broken(Reason.AUD_MISSING)
    aud = claims["aud"]
    named = [aud] if isinstance(aud, str) else aud
    if not isinstance(named, list) or not named or not all(isinstance(name, str) for name in named):
        raise _Broken(Reason.AUD_INVALID)
    if not any(name in audiences for name in named):
        raise _Broken(Reason.AUD_MISMATCH)


def check_expiry(claims: dict, now: float, leeway: int) -> float:
    if "exp" not in claims:
        raise _Broken(Reason.EXP_MISSING)
    exp = _numeric_date(claims["exp"], Reason.EXP_NOT_NUMBER)
    if not now < exp + leeway:
        raise _Broken(Reason.EXPIRED)
    return exp


def check_not_before(claims: dict, now: float, leeway: int) -> None:
    if "nbf" in claims and _numeric_date(claims["nbf"], Reason.NBF_NOT_NUMBER) - leeway > now:
        raise _Broken(Reason.NOT_YET_VALID)


def check_issued_at(claims: dict, now: float, leeway: int) -> float | None:
    if "iat" not in claims:
        return None
    iat = _numeric_date(claims["iat"], Reason.IAT_NOT_NUMBER)
    if iat - leeway > now:
        raise _Broken(Reason.IAT_IN_FUTURE)
    return iat


def check_lifetime(exp: float, iat: float | None, now: float, max_lifetime: int) -> None:
    """Short-lived assertions only: without iat, the remaining lifetime counts."""
    if exp - (now if iat is None else iat) > max_lifetime:
        raise _Broken(Reason.LIFETIME_TOO_LONG)


def _numeric_date(value: Any, reason: Reason) -> float:
    """RFC 7519 §2 NumericDate: a JSON number. Strings (OSDM's example), booleans (a bool
    is an int in Python) and numbers beyond float range are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Broken(reason)
    try:
        number = float(value)
    except OverflowError:
        raise _Broken(reason) from None
    if not math.isfinite(number):
        raise _Broken(reason)
    return number


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
        if not all(isinstance(scope, str) and _SCOPE_TOKEN.fullmatch(scope) for scope in requested):
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
    if not tokens or not all(_SCOPE_TOKEN.fullmatch(token) for token in tokens):
        raise _Broken(Reason.SCOPE_INVALID)
    return tokens


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))

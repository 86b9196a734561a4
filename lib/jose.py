"""Strict checks for signed JWTs in JWS Compact Serialization: the one JOSE layer of the
platform, used by the assertion validator (oauth/assertions.py: RFC 7523 assertions)
and by the Bearer station scheme (csms/auth/bearer.py: the access tokens stations
connect with). Pure: no Django, no database, no network, no clock (callers pass `now`).

What is checked here is what a token's *shape* and *signature* must satisfy whoever
reads it; who may sign, for whom and for what is the caller's (trust records,
audiences, subjects):

* bounded input, ASCII, exactly three segments (five: a JWE, refused — we verify, we do
  not decrypt), each canonical unpadded base64url (RFC 7515 §2), so one token has one
  spelling;
* header and payload are UTF-8 JSON objects without duplicate member names (RFC 7515
  §5.2 step 4) and without NaN/Infinity;
* `crit` and `b64` refused (no extension is implemented); `alg` mandatory, `none` in any
  spelling and every `HS*` refused before anything else (RFC 8725 §3.1, §3.2), then it
  must be in the caller's explicit list; `typ` mandatory and one of the caller's types
  (explicit typing, RFC 8725 §3.11); `kid` mandatory; registered parameters we do not
  act on must have their registered types; key hints (`jku`, `jwk`, `x5u`, `x5c`, ...)
  ignored: the key always comes from the caller, never from the token;
* the key fits `alg` before the library sees it (RFC 8725 §3.5): RSA of at least 2048
  bits for RS*/PS*, the curve of ES*, Ed25519/Ed448 for EdDSA; a JWK's own `use`,
  `key_ops` and `alg` honoured; private members refused;
* the signature verified by joserfc with only that key and `algorithms=[alg]`;
* claims helpers: `aud` (string or non-empty array of strings, one of them exact),
  NumericDates (`exp`, `nbf`, `iat`: JSON numbers, finite, not booleans).

Every failure raises `Refused` with a `Reason`; the caller words it for its clients.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key
from joserfc.registry import HeaderParameter

MAX_KID_LENGTH = 256
MIN_RSA_BITS = 2048

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
OKP_CURVES = {"EdDSA": frozenset({"Ed25519", "Ed448"}), "Ed25519": frozenset({"Ed25519"}),
              "Ed448": frozenset({"Ed448"})}
SUPPORTED_ALGORITHMS = RSA_ALGORITHMS | EC_CURVES.keys() | OKP_CURVES.keys()

JWT_TYPES = frozenset({"jwt", "application/jwt"})  # RFC 7519 §5.1
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 §2.1

_KEY_TYPE_FOR_ALG = {**dict.fromkeys(RSA_ALGORITHMS, "RSA"), **dict.fromkeys(EC_CURVES, "EC"),
                     **dict.fromkeys(OKP_CURVES, "OKP")}
_PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_IGNORED_KEY_HINTS = ("jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class Reason(StrEnum):
    """Why a token was refused by a check of this module: stable values for tests and logs."""

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
    KEY_UNUSABLE = "key_unusable"
    KEY_ALG_MISMATCH = "key_alg_mismatch"
    KEY_TOO_WEAK = "key_too_weak"
    SIGNATURE_MISSING = "signature_missing"
    SIGNATURE_INVALID = "signature_invalid"
    PAYLOAD_MALFORMED = "payload_malformed"
    PAYLOAD_DUPLICATE_MEMBER = "payload_duplicate_member"
    PAYLOAD_NOT_OBJECT = "payload_not_object"
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


class Refused(Exception):
    """A check failed; `reason` (a `Reason`, or a caller's own enum value) says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _DuplicateMember(Exception):
    pass


# --- shape ------------------------------------------------------------------------------------

def split_compact_jws(token: str, max_bytes: int) -> tuple[str, str, str]:
    """Bound the input before any work, then insist on the compact JWS shape."""
    if len(token) > max_bytes:
        raise Refused(Reason.OVERSIZED)
    if not token.isascii():
        raise Refused(Reason.NOT_COMPACT_JWS)
    segments = token.split(".")
    if len(segments) == 5:
        raise Refused(Reason.ENCRYPTED)
    if len(segments) != 3 or not segments[0] or not segments[1]:
        raise Refused(Reason.NOT_COMPACT_JWS)
    if not all(_is_canonical_base64url(segment) for segment in segments):
        raise Refused(Reason.SEGMENT_NOT_BASE64URL)
    return segments[0], segments[1], segments[2]


def _is_canonical_base64url(segment: str) -> bool:
    try:
        b64url_decode(segment)
    except ValueError:
        return False
    return True


def b64url_decode(segment: str) -> bytes:
    """Unpadded base64url, canonical only: re-encoding must give the same text, so the
    bytes that were signed have exactly one spelling. Raises ValueError."""
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as err:
        raise ValueError("not base64url") from err
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise ValueError("not canonical base64url")
    return raw


def json_object(raw: bytes, duplicate: str, malformed: str, not_object: str) -> dict:
    """Strict JSON: UTF-8, no duplicate member names anywhere, no NaN/Infinity; each
    failure refused with the reason given for it."""
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_refuse_duplicates,
                           parse_constant=_refuse_non_json_constant)
    except _DuplicateMember:
        raise Refused(duplicate) from None
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise Refused(malformed) from None
    if not isinstance(value, dict):
        raise Refused(not_object)
    return value


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _DuplicateMember()
    return members


def _refuse_non_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_header(segment: str) -> dict:
    return json_object(b64url_decode(segment), Reason.HEADER_DUPLICATE_MEMBER, Reason.HEADER_MALFORMED,
                       Reason.HEADER_NOT_OBJECT)


def parse_claims(payload: bytes) -> dict[str, Any]:
    return json_object(payload, Reason.PAYLOAD_DUPLICATE_MEMBER, Reason.PAYLOAD_MALFORMED,
                       Reason.PAYLOAD_NOT_OBJECT)


def unverified_claims(payload_segment: str) -> dict[str, Any] | None:
    """The claims of a token before its signature is checked, for choosing among keys
    only (never for trusting anything); None if they do not parse."""
    try:
        return parse_claims(b64url_decode(payload_segment))
    except (Refused, ValueError):
        return None


# --- header -----------------------------------------------------------------------------------

def check_header(header: dict, *, types: Collection[str], algorithms: Collection[str]) -> tuple[str, str]:
    """The header rules, in order; returns (kid, alg) for choosing and using the key.
    `types`: the accepted `typ` values, lower-case (`JWT_TYPES`, `ACCESS_TOKEN_TYPES`);
    `algorithms`: the caller's explicit list, within `SUPPORTED_ALGORITHMS`."""
    refuse_extensions(header)
    alg = require_asymmetric_alg(header, algorithms)
    require_type(header, types)
    kid = require_kid(header)
    require_registered_values(header)
    return kid, alg


def refuse_extensions(header: dict) -> None:
    """We understand no extension, so a `crit` header can never be honoured (RFC 7515
    §4.1.11); `b64` changes what was signed (RFC 7797) and is never needed here."""
    if "crit" in header:
        raise Refused(Reason.CRIT_UNSUPPORTED)
    if "b64" in header:
        raise Refused(Reason.B64_UNSUPPORTED)


def require_type(header: dict, types: Collection[str]) -> None:
    """Explicit typing (RFC 8725 §3.11): typ is a media type, compared case-insensitively,
    'application/' optional (RFC 7515 §4.1.9), so one kind of JWT is never taken for another."""
    if "typ" not in header:
        raise Refused(Reason.TYP_MISSING)
    typ = header["typ"]
    if not isinstance(typ, str) or typ.casefold() not in types:
        raise Refused(Reason.TYP_WRONG)


def require_kid(header: dict) -> str:
    """The kid names the key: mandatory, so no token makes us try keys in turn."""
    if "kid" not in header:
        raise Refused(Reason.KID_MISSING)
    kid = header["kid"]
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise Refused(Reason.KID_INVALID)
    return kid


def require_asymmetric_alg(header: dict, algorithms: Collection[str] = SUPPORTED_ALGORITHMS) -> str:
    """`none` and HMAC are refused before anything else looks at the token: with them,
    anyone who knows the public key could mint tokens (RFC 8725 §3.1, §3.2)."""
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise Refused(Reason.ALG_MISSING)
    if is_forbidden_algorithm(alg):
        raise Refused(Reason.ALG_FORBIDDEN)
    if alg not in algorithms or alg not in SUPPORTED_ALGORITHMS:
        raise Refused(Reason.ALG_UNSUPPORTED)
    return alg


def is_forbidden_algorithm(alg: str) -> bool:
    return alg.casefold() == "none" or alg.upper().startswith("HS")


def require_registered_values(header: dict) -> None:
    """Registered parameters we do not act on must still have their registered types
    (cty a string, ...), so joserfc accepts exactly the headers we accepted."""
    try:
        _signature_registry(header["alg"], max_bytes=0).check_header(header)
    except (JoseError, ValueError):
        raise Refused(Reason.HEADER_INVALID) from None


def _signature_registry(alg: str, *, max_bytes: int) -> jws.JWSRegistry:
    """A joserfc registry that knows exactly one algorithm. Key hints in the header are
    accepted in any shape because they are never used; unregistered parameters are
    ignored (not `crit`, which was refused before)."""
    ignored = {name: HeaderParameter("ignored: the key never comes from the token", _ignore)
               for name in _IGNORED_KEY_HINTS}
    registry = jws.JWSRegistry(header_registry=ignored, algorithms=[alg], strict_check_header=False)
    if max_bytes:
        registry.max_header_length = registry.max_payload_length = registry.max_signature_length = max_bytes
    return registry


def _ignore(_value: Any) -> None:
    return None


# --- keys -------------------------------------------------------------------------------------

def key_fitting(jwk: Mapping[str, Any], alg: str) -> RSAKey | ECKey | OKPKey:
    """The public key of `jwk`, proven to fit `alg` before joserfc sees it (RFC 8725
    §3.5), built from the public members only."""
    if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kty"), str):
        raise Refused(Reason.KEY_UNUSABLE)
    if _PRIVATE_MEMBERS & jwk.keys():
        raise Refused(Reason.KEY_UNUSABLE)
    require_key_allows_verification(jwk, alg)
    kty = _KEY_TYPE_FOR_ALG[alg]
    if jwk["kty"] != kty:
        raise Refused(Reason.KEY_ALG_MISMATCH)
    if kty == "RSA" and _rsa_modulus_bits(jwk) < MIN_RSA_BITS:
        raise Refused(Reason.KEY_TOO_WEAK)
    key = _import_public_key(jwk, kty)
    if isinstance(key, ECKey) and key.curve_name != EC_CURVES[alg]:
        raise Refused(Reason.KEY_ALG_MISMATCH)
    if isinstance(key, OKPKey) and key.curve_name not in OKP_CURVES[alg]:
        raise Refused(Reason.KEY_ALG_MISMATCH)
    return key


def require_key_allows_verification(jwk: Mapping[str, Any], alg: str) -> None:
    """A JWK may restrict itself (RFC 7517 §4.2-4.4); honour that rather than override it."""
    if "use" in jwk and jwk["use"] != "sig":
        raise Refused(Reason.KEY_UNUSABLE)
    if "key_ops" in jwk and (not isinstance(jwk["key_ops"], list) or "verify" not in jwk["key_ops"]):
        raise Refused(Reason.KEY_UNUSABLE)
    if "alg" in jwk and jwk["alg"] != alg:
        raise Refused(Reason.KEY_ALG_MISMATCH)


def _rsa_modulus_bits(jwk: Mapping[str, Any]) -> int:
    """Measured before import, so a weak key is refused by our rule, not a library warning."""
    try:
        return int.from_bytes(b64url_decode(jwk["n"]), "big").bit_length()
    except (KeyError, TypeError, ValueError):
        raise Refused(Reason.KEY_UNUSABLE) from None


def _import_public_key(jwk: Mapping[str, Any], kty: str) -> RSAKey | ECKey | OKPKey:
    members = _PUBLIC_MEMBERS[kty]
    if not all(isinstance(jwk.get(member), str) for member in members):
        raise Refused(Reason.KEY_UNUSABLE)
    try:
        return import_key({"kty": kty, **{member: jwk[member] for member in members}}, kty)
    except (JoseError, ValueError, TypeError) as err:  # bad encodings, points off the curve
        raise Refused(Reason.KEY_UNUSABLE) from err


# --- signature --------------------------------------------------------------------------------

def verify_signature(token: str, key: RSAKey | ECKey | OKPKey, alg: str, max_bytes: int) -> bytes:
    """joserfc verifies, with the one key and the one algorithm already vetted; returns
    the verified payload."""
    try:
        verified = jws.deserialize_compact(token, key, algorithms=[alg],
                                           registry=_signature_registry(alg, max_bytes=max_bytes))
    except (JoseError, ValueError) as err:
        raise Refused(Reason.SIGNATURE_INVALID) from err
    return verified.payload


# --- claims -----------------------------------------------------------------------------------

def check_audience(claims: dict, audiences: Collection[str]) -> None:
    """RFC 7519 §4.1.3: the token names its recipient, or it was meant for another."""
    if "aud" not in claims:
        raise Refused(Reason.AUD_MISSING)
    aud = claims["aud"]
    named = [aud] if isinstance(aud, str) else aud
    if not isinstance(named, list) or not named or not all(isinstance(name, str) for name in named):
        raise Refused(Reason.AUD_INVALID)
    if not any(name in audiences for name in named):
        raise Refused(Reason.AUD_MISMATCH)


def check_expiry(claims: dict, now: float, leeway: int) -> float:
    if "exp" not in claims:
        raise Refused(Reason.EXP_MISSING)
    exp = numeric_date(claims["exp"], Reason.EXP_NOT_NUMBER)
    if not now < exp + leeway:
        raise Refused(Reason.EXPIRED)
    return exp


def check_not_before(claims: dict, now: float, leeway: int) -> None:
    if "nbf" in claims and numeric_date(claims["nbf"], Reason.NBF_NOT_NUMBER) - leeway > now:
        raise Refused(Reason.NOT_YET_VALID)


def check_issued_at(claims: dict, now: float, leeway: int) -> float | None:
    if "iat" not in claims:
        return None
    iat = numeric_date(claims["iat"], Reason.IAT_NOT_NUMBER)
    if iat - leeway > now:
        raise Refused(Reason.IAT_IN_FUTURE)
    return iat


def numeric_date(value: Any, reason: str) -> float:
    """RFC 7519 §2 NumericDate: a JSON number. Strings (OSDM's example), booleans (a bool
    is an int in Python) and numbers beyond float range are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(reason)
    try:
        number = float(value)
    except OverflowError:
        raise Refused(reason) from None
    if not math.isfinite(number):
        raise Refused(reason)
    return number

"""A catalogue of attacks on signed JWT assertions (RFC 8725, OSDM "Validation of identity
token"), for RFC 7523 §2.1 grants and §2.2 client authentication alike.

Reusable, not a test module: the pure tests of ``oauth.assertions`` and the HTTP tests of
the token endpoint (both assertion forms) feed the same tokens to their validator. It
knows nothing of Django or of the purpose; a ``Cast`` holds the parties (the trusted
signer, a signer registered with a 1024-bit RSA key, one registered with an RSA key that
also lists ES256, and an attacker's key), ``Cast.records()`` gives the trust records to
register, and ``Cast.attacks()`` the (name, token) pairs, every one of which must be
refused.

Signatures are made with joserfc's algorithm objects over hand-assembled signing input, so
headers and payloads can be as broken as an attacker likes (duplicate members, strings
for numbers, a non-base64url payload) and still carry a valid signature: each attack
defeats exactly one rule. Forged tokens (alg ``none``, HMAC keyed with the public key)
are assembled by hand as well, since joserfc rightly refuses to produce them.

Times: attacks that depend on the clock keep a margin of ``MARGIN`` seconds beyond the
leeway, so they stay refused when validated some seconds after they were made.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import uuid
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

MARGIN = 120
OSDM_ISSUER = "https://osdm-consumer.eu/"
OSDM_SUBJECT = "UIC_OSDM_1080_4"
OSDM_AUDIENCE = "https://osdm-provider.eu/logon-server/public/token"
OSDM_SCOPE = "uic_osdm"

Key = RSAKey | ECKey | OKPKey


class Attack(NamedTuple):
    name: str
    token: str


# --- keys (generated once per process: RSA generation is slow) ------------------------------

def rsa_key(bits: int = 2048, index: int = 0) -> RSAKey:
    return _generated("RSA", bits, index)


def ec_key(curve: str = "P-256", index: int = 0) -> ECKey:
    return _generated("EC", curve, index)


def okp_key(curve: str = "Ed25519", index: int = 0) -> OKPKey:
    return _generated("OKP", curve, index)


@functools.cache
def _generated(kty: str, size_or_curve: Any, index: int) -> Key:
    """One key per (type, size or curve, index) per process; ``index`` tells keys apart."""
    key_class = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}[kty]
    with warnings.catch_warnings():  # the 1024-bit RSA key is weak on purpose
        warnings.simplefilter("ignore", SecurityWarning)
        return key_class.generate_key(size_or_curve, private=True, auto_kid=False)


def key_for(alg: str, index: int = 0) -> Key:
    """A private key that can sign ``alg``; distinct indexes give distinct keys."""
    if alg[:2] in ("RS", "PS"):
        return rsa_key(2048, index)
    if alg.startswith("ES"):
        return ec_key({"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg], index)
    return okp_key("Ed448" if alg == "Ed448" else "Ed25519", index)


def public_jwk(key: Key) -> dict[str, Any]:
    return dict(key.as_dict(private=False))


# --- assembling tokens ----------------------------------------------------------------------

def b64url(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def json_text(value: Mapping[str, Any] | str) -> str:
    """Compact JSON; a str is taken as ready-made JSON text (duplicates, NaN, ...)."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def signature(signing_input: bytes, key: Any, alg: str) -> bytes:
    """Sign like a signer that does whatever its header says: ``none`` gives no signature,
    ``HS*`` uses ``key`` (bytes) as the HMAC secret, anything else joserfc's algorithm."""
    if alg.casefold() == "none":
        return b""
    if alg.upper().startswith("HS"):
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg.upper()]
        return hmac.new(key, signing_input, digest).digest()
    return JWSRegistry(algorithms=[alg]).get_alg(alg).sign(signing_input, key)


def sign_segments(header_segment: str, payload_segment: str, key: Any, alg: str) -> str:
    """A compact JWS over segments taken as they are, base64url or not."""
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    return f"{header_segment}.{payload_segment}.{b64url(signature(signing_input, key, alg))}"


def make_assertion(key: Any, *, header: Mapping[str, Any] | str, claims: Mapping[str, Any] | str,
                   sign_as: str | None = None) -> str:
    """Sign any header and claims. ``sign_as`` signs with another algorithm than the
    header names (default: the header's ``alg``; give it when the header is raw text)."""
    alg = sign_as or (header["alg"] if isinstance(header, Mapping) else None)
    if alg is None:
        raise ValueError("give sign_as when the header is raw JSON text")
    return sign_segments(b64url(json_text(header)), b64url(json_text(claims)), key, alg)


def with_duplicate(members: Mapping[str, Any], name: str, first_value: Any) -> str:
    """JSON text in which ``name`` appears twice: ``first_value`` first, the real one last
    (what a last-wins parser such as Python's sees)."""
    return "{" + json.dumps(name) + ":" + json.dumps(first_value) + "," + json_text(members)[1:]


def with_raw_member(members: Mapping[str, Any], name: str, raw: str) -> str:
    """JSON-ish text with ``name`` set to ``raw`` verbatim (e.g. NaN, 1e999)."""
    rest = {key: value for key, value in members.items() if key != name}
    return json_text(rest)[:-1] + ("," if rest else "") + json.dumps(name) + ":" + raw + "}"


# --- the parties ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Signer:
    """Someone who signs assertions: a private key, the kid and algorithm it is registered
    with, and the claims it puts in each assertion. Calling it makes an assertion:
    ``signer(header_overrides=..., claims_overrides=..., drop=...)``."""

    key: Any
    kid: str
    alg: str
    issuer: str
    subject: str
    audience: str
    now: int
    lifetime: int = 300
    scope: str | None = OSDM_SCOPE
    registered_jwk: Mapping[str, Any] | None = None  # the record's key, when not our own
    registered_algorithms: tuple[str, ...] = ()  # the record's allowlist, default (alg,)
    registered_scopes: tuple[str, ...] = (OSDM_SCOPE,)
    extra_claims: Mapping[str, Any] = field(default_factory=dict)

    def header(self) -> dict[str, Any]:
        return {"alg": self.alg, "typ": "JWT", "kid": self.kid}

    def claims(self) -> dict[str, Any]:
        """OSDM's payload table: nbf two minutes back, a fresh UUID as jti."""
        claims = {"iss": self.issuer, "sub": self.subject, "aud": self.audience, "exp": self.now + self.lifetime,
                  "nbf": self.now - 120, "iat": self.now, "jti": str(uuid.uuid4())}
        if self.scope is not None:
            claims["scope"] = self.scope
        return {**claims, **self.extra_claims}

    def __call__(self, *, key: Any = None, header_overrides: Mapping[str, Any] | None = None,
                 claims_overrides: Mapping[str, Any] | None = None, drop: Iterable[str] = (),
                 sign_as: str | None = None) -> str:
        """An assertion; ``drop`` removes members from the header and the claims alike
        (their standard names do not overlap)."""
        dropped = set(drop)
        header = {k: v for k, v in {**self.header(), **(header_overrides or {})}.items() if k not in dropped}
        claims = {k: v for k, v in {**self.claims(), **(claims_overrides or {})}.items() if k not in dropped}
        return make_assertion(self.key if key is None else key, header=header, claims=claims,
                              sign_as=sign_as or header.get("alg") or self.alg)

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.key)

    def record_fields(self, **overrides: Any) -> dict[str, Any]:
        """The trust record that makes this signer's assertions valid (the attributes of
        ``oauth.assertions.TrustRecord``)."""
        fields = {
            "issuer": self.issuer, "subject": self.subject, "kid": self.kid,
            "public_jwk": dict(self.registered_jwk or self.public_jwk()),
            "algorithms": list(self.registered_algorithms or (self.alg,)),
            "scopes": list(self.registered_scopes),
            "valid_from": None, "valid_until": None, "retired_at": None,
        }
        return {**fields, **overrides}


@dataclass(frozen=True)
class Cast:
    """Everyone the attack catalogue needs, sharing one issuer and subject."""

    good: Signer
    weak: Signer  # registered with a 1024-bit RSA key
    mismatched: Signer  # registered with an RSA key whose allowlist also says ES256; signs ES256
    attacker_key: Any  # same kind of key as the good one, registered nowhere

    def records(self) -> list[dict[str, Any]]:
        return [signer.record_fields() for signer in (self.good, self.weak, self.mismatched)]

    def attacks(self, **limits: int) -> list[Attack]:
        return attacks(self.good, attacker_key=self.attacker_key, weak=self.weak, mismatched=self.mismatched,
                       **limits)


def make_cast(*, alg: str = "RS256", issuer: str = OSDM_ISSUER, subject: str = OSDM_SUBJECT,
              audience: str = OSDM_AUDIENCE, now: int | None = None, kid: str = "1234567890") -> Cast:
    """OSDM-shaped by default; for client authentication give ``issuer = subject =
    client_id``."""
    now = int(time.time()) if now is None else now
    good = Signer(key=key_for(alg), kid=kid, alg=alg, issuer=issuer, subject=subject, audience=audience, now=now)
    weak = replace(good, key=rsa_key(1024), kid=f"{kid}-rsa1024", alg="RS256")
    mismatched = replace(good, key=ec_key("P-256", 7), kid=f"{kid}-rsa-lists-es256", alg="ES256",
                         registered_jwk=public_jwk(rsa_key(2048, 7)), registered_algorithms=("RS256", "ES256"))
    return Cast(good=good, weak=weak, mismatched=mismatched, attacker_key=key_for(alg, index=1))


# --- the catalogue --------------------------------------------------------------------------

def attacks(good: Signer, *, attacker_key: Any, weak: Signer, mismatched: Signer, leeway_seconds: int = 30,
            max_lifetime_seconds: int = 600, max_bytes: int = 8192) -> list[Attack]:
    """Every entry must be refused by a validator that accepts ``good()`` and trusts the
    records of ``good``, ``weak`` and ``mismatched`` (for ``weak`` and ``mismatched`` the
    refusal is about their registered keys)."""
    catalogue = [
        *forged_algorithms(good),
        *foreign_keys(good, attacker_key),
        *broken_signatures(good),
        *wrong_claims(good),
        *wrong_times(good, leeway_seconds, max_lifetime_seconds),
        *wrong_types(good),
        *wrong_jti(good),
        *wrong_headers(good),
        *wrong_shapes(good, max_bytes),
        *parser_differentials(good),
        Attack("es256-header-on-rsa-record", mismatched()),
        Attack("rsa-1024-record-key", weak()),
    ]
    names = [attack.name for attack in catalogue]
    assert len(names) == len(set(names)), "attack names must be unique"
    return catalogue


def forged_algorithms(good: Signer) -> list[Attack]:
    """RFC 8725 §2.1/§3.1-3.2, OSDM's two alg attacks: no signature at all, or an HMAC
    keyed with the public key (which is public)."""
    pem = good.key.as_pem(private=False)
    jwk_json = json.dumps(good.public_jwk()).encode()
    other_alg = "RS512" if good.alg != "RS512" else "PS512"
    return [
        Attack("alg-none", good(header_overrides={"alg": "none"})),
        Attack("alg-None", good(header_overrides={"alg": "None"})),
        Attack("alg-NONE", good(header_overrides={"alg": "NONE"})),
        Attack("alg-none-with-real-signature", good(header_overrides={"alg": "none"}, sign_as=good.alg)),
        Attack("hs256-keyed-with-public-pem", good(key=pem, header_overrides={"alg": "HS256"})),
        Attack("hs256-keyed-with-public-jwk-json", good(key=jwk_json, header_overrides={"alg": "HS256"})),
        Attack("hs512-keyed-with-public-pem", good(key=pem, header_overrides={"alg": "HS512"})),
        Attack("alg-unsupported", good(header_overrides={"alg": "ES256K"}, sign_as=good.alg)),
        Attack("alg-not-in-record-allowlist", good(header_overrides={"alg": other_alg}, sign_as=good.alg)),
    ]


def foreign_keys(good: Signer, attacker_key: Any) -> list[Attack]:
    """The key must come from the trust record, never from the token (RFC 8725 §3.10)."""
    attacker = replace(good, key=attacker_key)
    attacker_jwk = public_jwk(attacker_key)
    return [
        Attack("foreign-kid", attacker(header_overrides={"kid": "attacker-key-1"})),
        Attack("trusted-kid-attacker-signature", attacker()),
        Attack("embedded-jwk-attacker-key", attacker(header_overrides={"jwk": attacker_jwk})),
        Attack("embedded-jwk-without-kid", attacker(header_overrides={"jwk": attacker_jwk}, drop=["kid"])),
        Attack("jku-attacker-url", attacker(header_overrides={"jku": "https://attacker.example/jwks.json"})),
        Attack("x5u-attacker-url", attacker(header_overrides={"x5u": "https://attacker.example/cert.pem"})),
    ]


def broken_signatures(good: Signer) -> list[Attack]:
    stripped = good().rsplit(".", 1)[0] + "."
    donor_signature = good().rsplit(".", 1)[1]  # another assertion's (valid) signature
    transplanted = good().rsplit(".", 1)[0] + "." + donor_signature
    return [Attack("signature-stripped", stripped), Attack("signature-transplanted", transplanted)]


def wrong_claims(good: Signer) -> list[Attack]:
    """OSDM: a consumer must not sign for another consumer's username; RFC 7523 §3 aud."""
    return [
        Attack("wrong-iss", good(claims_overrides={"iss": "https://attacker.example/"})),
        Attack("wrong-sub", good(claims_overrides={"sub": "UIC_OSDM_9999_9"})),
        Attack("missing-iss", good(drop=["iss"])),
        Attack("missing-sub", good(drop=["sub"])),
        Attack("wrong-aud", good(claims_overrides={"aud": "https://other-provider.example/token"})),
        Attack("aud-array-without-us", good(claims_overrides={"aud": ["https://a.example/", "https://b.example/"]})),
        Attack("aud-empty-array", good(claims_overrides={"aud": []})),
        Attack("missing-aud", good(drop=["aud"])),
    ]


def wrong_times(good: Signer, leeway: int, max_lifetime: int) -> list[Attack]:
    now, beyond_leeway = good.now, leeway + MARGIN
    past = now - beyond_leeway
    future = now + beyond_leeway
    return [
        Attack("expired", good(claims_overrides={"exp": past, "iat": past - 60, "nbf": past - 60})),
        Attack("future-nbf", good(claims_overrides={"nbf": future, "exp": future + 60})),
        Attack("iat-in-future", good(claims_overrides={"iat": future, "exp": future + 60})),
        Attack("lifetime-too-long", good(claims_overrides={"iat": now, "exp": now + max_lifetime + 1})),
        Attack("lifetime-too-long-without-iat",
               good(claims_overrides={"exp": now + max_lifetime + MARGIN}, drop=["iat"])),
        Attack("missing-exp", good(drop=["exp"])),
    ]


def wrong_types(good: Signer) -> list[Attack]:
    """NumericDate is a JSON number (RFC 7519 §2); OSDM's example strings are an erratum."""
    claims = good.claims()
    return [
        Attack("string-exp", good(claims_overrides={"exp": str(claims["exp"])})),
        Attack("string-nbf", good(claims_overrides={"nbf": str(claims["nbf"])})),
        Attack("string-iat", good(claims_overrides={"iat": str(claims["iat"])})),
        Attack("boolean-exp", good(claims_overrides={"exp": True})),
        Attack("nan-exp", make_assertion(good.key, header=good.header(),
                                         claims=with_raw_member(claims, "exp", "NaN"))),
        Attack("infinite-exp", make_assertion(good.key, header=good.header(),
                                              claims=with_raw_member(claims, "exp", "1e999"))),
    ]


def wrong_jti(good: Signer) -> list[Attack]:
    """OSDM makes jti mandatory; its example's ``iti`` is an erratum, not an alias."""
    return [
        Attack("missing-jti", good(drop=["jti"])),
        Attack("iti-instead-of-jti", good(claims_overrides={"iti": str(uuid.uuid4())}, drop=["jti"])),
        Attack("empty-jti", good(claims_overrides={"jti": ""})),
        Attack("numeric-jti", good(claims_overrides={"jti": 12345})),
        Attack("overlong-jti", good(claims_overrides={"jti": "j" * 257})),
    ]


def wrong_headers(good: Signer) -> list[Attack]:
    return [
        Attack("missing-kid", good(drop=["kid"])),
        Attack("numeric-kid", good(header_overrides={"kid": 1234567890})),
        Attack("missing-typ", good(drop=["typ"])),
        Attack("wrong-typ-access-token", good(header_overrides={"typ": "at+jwt"})),
        Attack("missing-alg", good(drop=["alg"], sign_as=good.alg)),
        Attack("crit-header", good(header_overrides={"crit": ["exp"], "exp": good.now + 60})),
        Attack("b64-false-header", good(header_overrides={"b64": False})),
    ]


def wrong_shapes(good: Signer, max_bytes: int) -> list[Attack]:
    token = good()
    header_segment, payload_segment, _ = token.split(".")
    jwe_header = b64url(json_text({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": good.kid, "typ": "JWT"}))
    return [
        Attack("oversized", good(claims_overrides={"padding": "x" * max_bytes})),
        Attack("jwe-five-parts", ".".join([jwe_header, b64url(b"k" * 256), b64url(b"i" * 12),
                                           b64url(b"c" * 64), b64url(b"t" * 16)])),
        Attack("two-parts", f"{header_segment}.{payload_segment}"),
        Attack("four-parts", token + "." + b64url(b"more")),
        Attack("garbage-base64", "!!!!.@@@@.####"),
        Attack("padded-base64", f"{header_segment}==.{payload_segment}.{token.split('.')[2]}"),
        Attack("non-ascii", token + "\u00e9"),
        Attack("empty-header-segment", f".{payload_segment}.{token.split('.')[2]}"),
        Attack("payload-not-base64url-signed", sign_segments(header_segment, "not*base64url", good.key, good.alg)),
        Attack("header-not-object", sign_segments(b64url('["RS256"]'), payload_segment, good.key, good.alg)),
        Attack("payload-not-object", sign_segments(header_segment, b64url("[1, 2]"), good.key, good.alg)),
        Attack("payload-not-json", sign_segments(header_segment, b64url("iss=me"), good.key, good.alg)),
    ]


def parser_differentials(good: Signer) -> list[Attack]:
    """Duplicate members: a first-wins parser and a last-wins parser disagree on what was
    signed (RFC 7515 §5.2, RFC 8259 §4). Both tokens are validly signed by the good key."""
    header = with_duplicate(good.header(), "kid", "attacker-key-1")
    claims = with_duplicate(good.claims(), "sub", "UIC_OSDM_9999_9")
    return [
        Attack("duplicate-header-member", make_assertion(good.key, header=header, claims=good.claims(),
                                                         sign_as=good.alg)),
        Attack("duplicate-payload-member", make_assertion(good.key, header=good.header(), claims=claims)),
    ]

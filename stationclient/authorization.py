"""How a station writes its credentials for each method, from what it is configured
with (`Secrets`) and, for Digest, the server's challenge.

* Basic (RFC 7617): `Basic base64(login:password)`, the password as bytes (a 1.6 key's
  raw bytes or its hex text, a 2.0.1 password).
* Token (white paper): `Token <token>`.
* Digest (RFC 7616, `qop=auth`): the first of the station's algorithms (SHA-256 first,
  the white paper's default) that a challenge offers; MD5 and SHA-1 never, whatever
  is offered. `check_rspauth` verifies the server's proof on the 101.
* TOTP (`totp-http-authentication.md`) in its three bindings: the `TOTP` scheme (raw
  token, `tlscb=false`: this client has no TLS exporter to bind to), the token in
  Basic's password field, or the `TOTP: 0 <token>` request header.
* Bearer (RFC 6750): `Bearer <token>`, a token given or fetched by a callable.
* EAP (draft-torvinen-http-eap-01) with EAP-MD5 (`eap.py`): the Identity Response,
  then the MD5-Challenge Response to the round the server opens; the password as for
  Digest.

Scheme names are written in their normative spelling (`negotiation.METHODS`). Pure: the
time and the random bytes are the caller's.
"""
import base64
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from lib.http_auth import Credentials, MalformedAuthorization, challenge, parse_auth_params
from lib.http_digest import ALGORITHMS, h
from lib.totp_token import Config, slot_of, token

from . import eap

# The station's preference: SHA-256 first, the white paper's default for OCPP.
DIGEST_ALGORITHMS = ("SHA-256", "SHA-512-256", "SHA-384", "SHA-512")
TOTP_BINDINGS = ("scheme", "basic", "header")


@dataclass(frozen=True)
class Secrets:
    """What a station is configured with; any of it may be absent."""

    login: str  # Basic's and Digest's username, TOTP's login: by default the identity
    password: bytes | None = None  # Basic and Digest
    token: str | None = None  # Token
    totp: Config | None = None  # TOTP (lib/totp_token.config checks it)
    totp_binding: str = "scheme"
    bearer: str | Callable[[], str] | None = None  # Bearer: a token, or how to get one
    digest_algorithms: tuple[str, ...] = DIGEST_ALGORITHMS  # by preference

    def __post_init__(self):
        if self.totp_binding not in TOTP_BINDINGS:
            raise ValueError(f"TOTP binding is one of {', '.join(TOTP_BINDINGS)}")
        unknown = [a for a in self.digest_algorithms if a not in ALGORITHMS]
        if unknown:
            raise ValueError(f"Digest algorithms are among {', '.join(DIGEST_ALGORITHMS)}, not {unknown}")

    def holds(self, method: str) -> bool:
        """Whether the station has what `method` needs."""
        return {"basic": self.password is not None, "digest": self.password is not None,
                "eap": self.password is not None,
                "token": self.token is not None, "totp": self.totp is not None,
                "bearer": self.bearer is not None}.get(method, False)

    def __repr__(self):  # secrets never reach a log through repr()
        held = [m for m in ("basic", "token", "totp", "bearer") if self.holds(m)]
        return f"Secrets(login={self.login!r}, holds={held})"


@dataclass(frozen=True)
class Written:
    """The request headers that carry a method's credentials, and what they are."""

    headers: tuple[tuple[str, str], ...]
    detail: str  # "Basic", "Digest SHA-256", "TOTP (Basic binding)": for logs and verdicts
    digest: "DigestAnswer | None" = None  # to check the server's rspauth


@dataclass(frozen=True)
class DigestAnswer:
    algorithm: str
    ha1: bytes
    nonce: bytes
    nc: bytes
    cnonce: bytes
    uri: bytes


def usable(method: str, challenges: list[Credentials], secrets: Secrets) -> bool:
    """Whether the station can answer `method` among these challenges (Digest: only with
    an algorithm it allows and `qop=auth`)."""
    if not secrets.holds(method):
        return False
    if method == "digest":
        return _digest_challenge(challenges, secrets) is not None
    return True


@dataclass(frozen=True)
class Asked:
    """What a method's credentials may depend on besides the station's secrets."""

    challenges: list[Credentials]  # of the last 401 (none before the first)
    target: str  # the request-target: Digest's `uri`
    now: float  # the station's clock: TOTP
    random: bytes  # 16 bytes: Digest's cnonce


def write(method: str, secrets: Secrets, challenges: list[Credentials], *, target: str,
          now: float, random: bytes) -> Written:
    """The credentials of `method` (one writer per method, `_WRITERS`)."""
    writer = _WRITERS.get(method)
    if writer is None:
        raise ValueError(f"this client cannot write {method!r}")
    return writer(secrets, Asked(list(challenges), target, now, random))


def _write_basic(secrets: Secrets, _: Asked) -> Written:
    return Written((("Authorization", _basic(secrets.login, secrets.password)),), "Basic")


def _write_token(secrets: Secrets, _: Asked) -> Written:
    return Written((("Authorization", "Token " + secrets.token),), "Token")


def _write_bearer(secrets: Secrets, _: Asked) -> Written:
    value = secrets.bearer() if callable(secrets.bearer) else secrets.bearer
    return Written((("Authorization", "Bearer " + value),), "Bearer")


def _basic(login: str, password: bytes) -> str:
    return "Basic " + base64.b64encode(login.encode("utf-8") + b":" + password).decode("ascii")


def _write_totp(secrets: Secrets, asked: Asked) -> Written:
    c = secrets.totp
    value = token(c, slot_of(c, int(asked.now)))
    if secrets.totp_binding == "basic":
        return Written((("Authorization", _basic(secrets.login, value.encode("utf-8"))),), "TOTP (Basic binding)")
    if secrets.totp_binding == "header":
        return Written((("TOTP", "0 " + value),), "TOTP (TOTP header)")
    b64 = lambda text: base64.b64encode(text.encode("utf-8")).decode("ascii")  # noqa: E731
    return Written((("Authorization", challenge(
        "TOTP", [("login", b64(secrets.login)), ("totp", b64(value)), ("tlscb", "false")],
        tokens=("tlscb",))),), "TOTP")


# --- Digest --------------------------------------------------------------------------------

def _digest_challenge(challenges: list[Credentials], secrets: Secrets) -> tuple[str, Credentials] | None:
    """(algorithm, challenge): the first of the station's algorithms on offer with qop auth."""
    on_offer = {}
    for c in challenges:
        if c.scheme != "digest":
            continue
        algorithm = (c.param("algorithm") or b"MD5").decode("latin-1").upper()  # absent means MD5
        qops = [q.strip() for q in (c.param("qop") or b"").decode("latin-1").split(",")]
        if algorithm in ALGORITHMS and "auth" in qops and c.param("nonce") and c.param("realm") is not None:
            on_offer.setdefault(algorithm, c)
    for algorithm in secrets.digest_algorithms:
        if algorithm in on_offer:
            return algorithm, on_offer[algorithm]
    return None


def continues(method: str, sent: "Written | None", challenges: list[Credentials]) -> bool:
    """Whether a 401 carries on the method's exchange rather than refusing it, so it is
    no failure: Digest's expired nonce (answer the new one), EAP's MD5-Challenge after
    the station's Identity (answer the round)."""
    if method == "digest":
        return stale(challenges)
    if method == "eap" and sent is not None and sent.detail == EAP_IDENTITY:
        request = eap.eap_challenge_of(challenges)
        return request is not None and (request["code"], request["type"]) == (eap.REQUEST, eap.MD5)
    return False


def stale(challenges: list[Credentials]) -> bool:
    """A Digest challenge says the nonce expired (RFC 7616 §3.3): answer the new one,
    it was no failure of the password."""
    return any(c.scheme == "digest" and (c.param("stale") or b"").lower() == b"true" for c in challenges)


def _write_digest(secrets: Secrets, asked: Asked) -> Written:
    algorithm, c = _digest_challenge(asked.challenges, secrets)
    target, random = asked.target, asked.random
    realm, nonce = c.param("realm"), c.param("nonce")
    ha1 = h(algorithm, secrets.login.encode("utf-8") + b":" + realm + b":" + secrets.password)
    answer = DigestAnswer(algorithm, ha1, nonce, b"00000001", random.hex().encode("ascii"), target.encode("utf-8"))
    params = [("username", secrets.login), ("realm", realm.decode("latin-1")), ("uri", target),
              ("algorithm", algorithm), ("nonce", nonce.decode("latin-1")), ("nc", "00000001"),
              ("cnonce", answer.cnonce.decode("ascii")), ("qop", "auth"),
              ("response", _kd(answer, b"GET").decode("ascii"))]
    if c.param("opaque") is not None:
        params.append(("opaque", c.param("opaque").decode("latin-1")))
    value = challenge("Digest", params, tokens=("algorithm", "nc", "qop"))
    return Written((("Authorization", value),), f"Digest {algorithm}", answer)


def _kd(a: DigestAnswer, method: bytes) -> bytes:
    """KD(H(A1), nonce:nc:cnonce:qop:H(A2)), A2 = method:uri (RFC 7616 §3.4.1, §3.5)."""
    ha2 = h(a.algorithm, method + b":" + a.uri)
    return h(a.algorithm, b":".join((a.ha1, a.nonce, a.nc, a.cnonce, b"auth", ha2)))


def check_rspauth(answer: DigestAnswer, authentication_info: str | None) -> bool:
    """Whether the 101's `Authentication-Info` proves the server knows the password
    (its rspauth is KD with an empty method, for our cnonce and nc)."""
    if authentication_info is None:
        return False
    try:
        params = dict(parse_auth_params(authentication_info.encode("latin-1")))
    except (MalformedAuthorization, UnicodeEncodeError):
        return False
    if params.get("cnonce", answer.cnonce) != answer.cnonce or params.get("nc", answer.nc) != answer.nc:
        return False
    return hmac.compare_digest(params.get("rspauth", b"").lower(), _kd(answer, b""))


# --- EAP -----------------------------------------------------------------------------------

EAP_IDENTITY, EAP_MD5 = "EAP Identity", "EAP MD5-Challenge"


def _write_eap(secrets: Secrets, asked: Asked) -> Written:
    """Answer the server's Request; with none to answer (a Failure, no EAP packet), the
    draft's unsolicited Identity Response starts a conversation."""
    request = eap.eap_challenge_of(asked.challenges)
    client = eap.EapClient(secrets.login, secrets.password, realm=request["realm"] if request else "")
    if request is not None and request["code"] == eap.REQUEST and request["type"] == eap.MD5:
        return Written((("Authorization", client.answer(request)),), EAP_MD5)
    if request is not None and request["code"] == eap.REQUEST and request["type"] == eap.IDENTITY:
        return Written((("Authorization", client.answer(request)),), EAP_IDENTITY)
    return Written((("Authorization", client.identity_response()),), EAP_IDENTITY)


_WRITERS = {"basic": _write_basic, "token": _write_token, "digest": _write_digest, "totp": _write_totp,
            "bearer": _write_bearer, "eap": _write_eap}

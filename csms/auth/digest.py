"""HTTP Digest (RFC 7616) for stations: a scheme plug-in.

* Algorithms: SHA-256 (offered first, the default), SHA-512-256, SHA-384 and SHA-512,
  one challenge each (`OFFERED`); MD5 and SHA-1 (and an absent `algorithm`, which means
  MD5) are refused with the challenges, as are the `-sess` variants. `qop="auth"` only.
* The password is the station's key as it configures it (`passwords`): a 1.6
  AuthorizationKey (16 to 20 bytes) is its hex text, in capitals (what this CSMS sends
  in ChangeConfiguration) or small letters; a 2.0.1 BasicAuthPassword is its own text.
  The username is the station's identity (or its `userhash`); Basic's other logins do
  not apply (a verifier is made per username, when the key is set).
* Nothing secret is stored but the verifiers H(identity:realm:password) of each valid
  key, sealed (`keys.seal_digest`); they are password-equivalent *for Digest*: whoever
  reads one (and the KEK) can answer a Digest challenge as the station, though not
  learn its key for Basic. Digest is opt-in per station, by its method list.
* Nonces are stateless (`make_nonce`): a timestamp and random bytes under an HMAC of
  the server's key (derived from the KEK, so every process checks every other's),
  bound to the realm and the station; valid `NONCE_SECONDS`, then answered with
  `stale=true` if the response was right. Replay: each (nonce, nc) pair is accepted
  once, remembered in a store shared by all processes (`DigestStore.first_use`).
* The 101 carries `Authentication-Info` with `rspauth` (the server proves it too).

Malformed (400): token68 credentials, a missing required parameter, `nc` that is not 8
hex digits, a response that is not hex of the algorithm's length. Pure: secrets, the
server key, the clock and the replay store are reached through `subject.digest`.
"""
import base64
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from typing import Protocol

from lib.http_auth import Credentials, MalformedAuthorization, challenge, quoted_string
from lib.http_digest import ALGORITHMS, h

from .basic import KEY_BYTES, MIN_KEY_BYTES
from .schemes import Subject, Verdict

# The order of `OFFERED` is the order of the challenges.
OFFERED = ("SHA-256", "SHA-512-256", "SHA-384", "SHA-512")
NONCE_SECONDS = 300
CLOCK_SKEW_SECONDS = 5  # a nonce stamped by a process whose clock runs a little ahead
_REQUIRED = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
_NC = re.compile(rb"[0-9A-Fa-f]{8}")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_NONCE_RANDOM_BYTES = 12
_MAC_BYTES = 16


class DigestStore(Protocol):
    """What the Digest check needs besides the header (`keys.StoredDigest`)."""

    def server_key(self) -> bytes: ...

    def verifiers(self, algorithm: str) -> list[tuple[str, tuple[bytes, ...]]]:
        """(key hash, its verifiers H(username:realm:password) as hex) per valid key."""
        ...

    def first_use(self, nonce: bytes, nc: int, ttl: int) -> bool:
        """Record (nonce, nc); False if it was recorded before (a replay)."""
        ...

    def memory_age(self) -> float | None:
        """For how many seconds `first_use` has remembered every pair it recorded: this
        process's uptime where the store is the process's memory (a monotonic clock, so
        a step of the wall clock does not move it); None where it outlives a restart
        (Redis)."""
        ...

    def now(self) -> float: ...

    def random(self, n: int) -> bytes: ...


def passwords(secret: bytes) -> tuple[bytes, ...]:
    """The Digest passwords a stored station secret stands for: a 1.6 key's hex text in
    both cases (stations are configured with the text; the bytes are rarely printable),
    a 2.0.1 password as itself."""
    if MIN_KEY_BYTES <= len(secret) <= KEY_BYTES:
        return secret.hex().upper().encode("ascii"), secret.hex().encode("ascii")
    return (secret,)


def verifier(algorithm: str, username: str, realm: str, password: bytes) -> bytes:
    """H(A1) = H(username:realm:password), the password-equivalent that is stored."""
    return h(algorithm, username.encode("utf-8") + b":" + realm.encode("utf-8") + b":" + password)


def response(algorithm: str, ha1: bytes, c: "DigestCredentials", method: bytes) -> bytes:
    """KD(H(A1), nonce:nc:cnonce:qop:H(method:uri)); an empty method gives rspauth."""
    ha2 = h(algorithm, method + b":" + c.uri)
    return h(algorithm, b":".join((ha1, c.nonce, c.nc, c.cnonce, c.qop, ha2)))


# --- nonces -------------------------------------------------------------------------------

def _nonce_mac(key: bytes, body: bytes, realm: str, identity: str) -> bytes:
    message = b"chargegate digest nonce\0" + body + realm.encode("utf-8") + b"\0" + identity.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]


# The issued-at is in milliseconds: in whole seconds (as nonces were first made) a nonce
# minted in a process's first second looked up to a second older than the process, and
# was answered stale (a needless 401; a flaky live test). A value below this is one of
# those older nonces, in seconds (until the year 5138).
_MILLISECONDS_FROM = 10**11
_ISSUED_PRECISION = 0.001  # seconds


def make_nonce(key: bytes, realm: str, identity: str, now: float, random: bytes) -> str:
    """base64url(issued-at in ms (8 bytes) | random (12) | HMAC (16)): checkable by any
    process holding `key`, for this realm and station only."""
    body = struct.pack(">Q", int(now * 1000)) + random
    return base64.urlsafe_b64encode(body + _nonce_mac(key, body, realm, identity)).rstrip(b"=").decode("ascii")


def nonce_age(key: bytes, nonce: bytes, realm: str, identity: str, now: float) -> float | None:
    """Seconds since this server issued `nonce` for this station; None if it did not."""
    try:
        raw = base64.urlsafe_b64decode(nonce + b"=" * (-len(nonce) % 4))
    except ValueError:
        return None
    if len(raw) != 8 + _NONCE_RANDOM_BYTES + _MAC_BYTES:
        return None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _nonce_mac(key, body, realm, identity)):
        return None
    issued = struct.unpack(">Q", body[:8])[0]
    age = now - (issued / 1000 if issued >= _MILLISECONDS_FROM else issued)
    return age if age >= -CLOCK_SKEW_SECONDS else None


def opaque(key: bytes, realm: str) -> str:
    digest = hmac.new(key, b"chargegate digest opaque\0" + realm.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode("ascii")


# --- the header ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DigestCredentials:
    username: bytes
    realm: bytes
    nonce: bytes
    uri: bytes
    response: bytes  # lower-case hex
    algorithm: str  # upper-case, as sent ("MD5" when absent)
    qop: bytes
    nc: bytes
    cnonce: bytes
    opaque: bytes | None
    userhash: bool

    def __repr__(self):  # the response is a credential: keep it out of logs
        return f"DigestCredentials(username={self.username!r}, algorithm={self.algorithm!r})"


def parse_digest(credentials: Credentials) -> DigestCredentials:
    if credentials.token68 is not None or not credentials.params:
        raise MalformedAuthorization("Digest credentials are auth-params")
    missing = [name for name in _REQUIRED if credentials.param(name) is None]
    if missing:
        raise MalformedAuthorization(f"Digest credentials lack {', '.join(missing)}")
    p = credentials.param
    nc, answer = p("nc"), p("response")
    if not _NC.fullmatch(nc):
        raise MalformedAuthorization("Digest nc is not 8 hex digits")
    if not _HEX.fullmatch(answer):
        raise MalformedAuthorization("Digest response is not hex")
    algorithm = (p("algorithm") or b"MD5").decode("latin-1").upper()
    if algorithm in ALGORITHMS and len(answer) != 2 * hashlib.new(ALGORITHMS[algorithm]).digest_size:
        raise MalformedAuthorization("Digest response is not of the algorithm's length")
    userhash = (p("userhash") or b"false").lower()
    if userhash not in (b"true", b"false"):
        raise MalformedAuthorization("Digest userhash is neither true nor false")
    if not p("cnonce"):
        raise MalformedAuthorization("Digest cnonce is empty")
    return DigestCredentials(
        username=p("username"), realm=p("realm"), nonce=p("nonce"), uri=p("uri"),
        response=answer.lower(), algorithm=algorithm, qop=p("qop"), nc=nc, cnonce=p("cnonce"),
        opaque=p("opaque"), userhash=userhash == b"true")


@dataclass(frozen=True)
class _Proof:
    key_hash: str
    ha1: bytes


class Digest:
    """The scheme plug-in (`schemes.Scheme`), with one challenge per algorithm."""

    name = "Digest"

    def parse(self, credentials: Credentials) -> DigestCredentials:
        return parse_digest(credentials)

    def verify(self, c: DigestCredentials, subject: Subject) -> Verdict:
        store = subject.digest
        if c.algorithm not in ALGORITHMS:
            named = c.algorithm if c.algorithm in ("MD5", "MD5-SESS", "SHA-1") else "an unknown algorithm"
            return Verdict(False, f"Digest with {named} refused")
        if store is None or c.qop != b"auth":
            return Verdict(False, "Digest qop is not auth" if store else "no Digest verifiers")
        key = store.server_key()
        if (c.realm != subject.realm.encode("utf-8") or c.opaque is None
                or not hmac.compare_digest(c.opaque, opaque(key, subject.realm).encode("ascii"))):
            return Verdict(False, "Digest realm or opaque is not ours")
        if c.uri != subject.request_target:
            return Verdict(False, "Digest uri is not the request's target")
        if not hmac.compare_digest(c.username, self._username(c, subject)):
            return Verdict(False, "wrong credentials")
        age = nonce_age(key, c.nonce, subject.realm, subject.identity, store.now())
        if age is None:
            return Verdict(False, "Digest nonce is not ours")
        proof = self._proof(c, store)
        if proof is None:
            return Verdict(False, "wrong credentials")
        if age > NONCE_SECONDS:
            return Verdict(False, "Digest nonce expired", stale=True)
        remembered = store.memory_age()
        if remembered is not None and age > remembered + _ISSUED_PRECISION:
            # Its (nonce, nc) pairs used before a restart are forgotten: a fresh nonce is
            # one more 401, where accepting this one could let a captured response in again.
            return Verdict(False, "Digest nonce older than the replay store's memory", stale=True)
        if not store.first_use(c.nonce, int(c.nc, 16), int(NONCE_SECONDS - age) + CLOCK_SKEW_SECONDS + 1):
            return Verdict(False, "Digest nonce count replayed")
        return Verdict(True, key_hash=proof.key_hash, info=self._info(c, proof))

    def _username(self, c: DigestCredentials, subject: Subject) -> bytes:
        if c.userhash:  # RFC 7616 §3.4.4: H(username:realm)
            return h(c.algorithm, subject.identity.encode("utf-8") + b":" + subject.realm.encode("utf-8"))
        return subject.identity.encode("utf-8")

    def _proof(self, c: DigestCredentials, store: DigestStore) -> _Proof | None:
        """The valid key whose verifier yields the response; every verifier is tried, in
        constant time each, whichever matches."""
        found = None
        for key_hash, verifiers in store.verifiers(c.algorithm):
            for ha1 in verifiers:
                if hmac.compare_digest(response(c.algorithm, ha1, c, b"GET"), c.response) and found is None:
                    found = _Proof(key_hash, ha1)
        return found

    def _info(self, c: DigestCredentials, proof: _Proof) -> str:
        """Authentication-Info (RFC 7616 §3.5) for the 101."""
        rspauth = response(c.algorithm, proof.ha1, c, b"").decode("ascii")
        return (f"qop=auth, rspauth={quoted_string(rspauth)}, "
                f"cnonce={quoted_string(c.cnonce.decode('latin-1'))}, nc={c.nc.decode('ascii')}")

    def challenges(self, subject: Subject, stale: bool = False) -> list[str]:
        store = subject.digest
        if store is None:
            return []
        key = store.server_key()
        nonce = make_nonce(key, subject.realm, subject.identity, store.now(), store.random(_NONCE_RANDOM_BYTES))
        extra = [("stale", "true")] if stale else []
        same_opaque = opaque(key, subject.realm)
        return [challenge(self.name, [("realm", subject.realm), ("qop", "auth"), ("algorithm", algorithm),
                                      ("nonce", nonce), ("opaque", same_opaque), *extra],
                          tokens=("algorithm", "stale"))
                for algorithm in OFFERED]

    def challenge(self, subject: Subject) -> str:
        return self.challenges(subject)[0] if subject.digest else ""

    def presented(self, credentials: DigestCredentials) -> bytes | None:
        return None  # a new response every attempt


SCHEME = Digest()

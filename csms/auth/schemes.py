"""What a station authentication scheme is, and the results of the handshake's decision.

A scheme is a plug-in (one module each: `basic`, `token`, `digest`, `totp`, `bearer`,
`eap`) with four parts:

* `name`: its canonical spelling, used in challenges (RFC 9110 compares it without case);
* `parse(credentials)`: the scheme's reading of a grammatically valid Authorization
  header, raising `MalformedAuthorization` (400) when the scheme's own rules are broken;
* `verify(parsed, subject)`: whether they prove the station's identity, as a `Verdict`;
* `challenge(subject)`: its `WWW-Authenticate` value for a 401 — or, for a scheme with
  several (Digest: one per algorithm), `challenges(subject, stale)`; a scheme whose
  challenge describes the refusal of its own credentials (Bearer's `error=`, RFC 6750
  §3) also has `refusal_challenge(subject, verdict)`.

`station_auth.authenticate` asks `policy` which schemes the station may use and
dispatches to them. Pure: the schemes reach stored secrets only through the `Subject`
(`keys.StoredKeys` for Basic), so they are tested without a database.
"""
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from lib.http_auth import Credentials


class Decision(Enum):
    OK = "ok"
    CHALLENGE = "challenge"  # 401: missing or wrong credentials, or a scheme not allowed
    MALFORMED = "malformed"  # 400: an Authorization header we cannot parse
    THROTTLED = "throttled"  # 429: too many failures (admission.py), nothing was checked
    BUSY = "busy"  # 503: the hashing gate stayed full


@dataclass
class AuthResult:
    decision: Decision
    reason: str = ""  # for the log: never a credential, never an unknown scheme's text
    challenges: list[str] = field(default_factory=list)  # one WWW-Authenticate value each
    key_hash: str = ""  # which stored key the station proved (OK only, Basic)
    token_id: str = ""  # which token or TOTP secret the station proved, by its public id (OK only)
    method: str = ""  # the scheme that proved it (OK only)
    info: str = ""  # an Authentication-Info value for the 101 (OK only, Digest)
    hashes: int = 0  # argon2 verifications run: a failure that ran none costs nothing to throttle
    retry_after: int = 0  # THROTTLED and BUSY


class SecretStore(Protocol):
    """The station's valid secrets as a scheme may ask about them (`keys.StoredKeys`)."""

    def all_cheap(self) -> bool: ...

    def check(self, secret: bytes) -> "Verdict": ...

    def decoy(self, secret: bytes) -> int: ...


class TokenStore(Protocol):
    """The station's active tokens as the Token scheme asks about them (`keys.StoredTokens`)."""

    def check(self, public_id: str, secret: bytes) -> "Verdict": ...


class _NoTokens:
    def check(self, public_id: str, secret: bytes) -> "Verdict":
        return Verdict(False, "wrong credentials")


NO_TOKENS: TokenStore = _NoTokens()


@dataclass(frozen=True)
class Subject:
    """What the decision knows of the station a handshake claims to be.

    Built by `policy.subject` from the station's row; `methods` are the schemes the
    station may authenticate with, in the operator's order of preference."""
    identity: str
    realm: str
    methods: tuple[str, ...]
    keys: SecretStore
    accept_hex: bool  # whether a Basic password may be the key's hex text (policy.accepts_hex)
    tokens: TokenStore = NO_TOKENS  # the station's active tokens (loaded only when one is presented)
    logins: tuple[bytes, ...] = ()  # Basic logins besides the identity (loaded only when one is sent)
    source_allowed: bool = True  # the client address is inside its group's networks (policy.source_allowed)
    digest: Any = None  # digest.DigestStore: the station's verifiers, nonce key and replay store
    request_target: bytes = b""  # the handshake's request-target (Digest's `uri` must be it)
    totp: Any = None  # totp.TotpStore: the station's active TOTP secret (loaded only when one may be sent)
    eap: Any = None  # eap.EapStore: the station's EAP secrets and open rounds (None: EAP not allowed)
    bearer: Any = None  # bearer.BearerStore: the tenant's token keys (loaded only when a Bearer is sent)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    key_hash: str = ""
    token_id: str = ""
    hashes: int = 0
    info: str = ""  # Authentication-Info for the 101
    stale: bool = False  # right credentials on an expired nonce: challenge with stale=true
    # The scheme's own WWW-Authenticate for this 401, in place of its usual one: EAP's
    # next Request of a conversation spanning handshakes, or its Failure.
    challenge: str = ""
    error: str = ""  # an RFC 6750 error code for the scheme's own challenge (Bearer: invalid_token)
    error_description: str = ""  # its short description: never the credentials


class Scheme(Protocol):
    name: str

    def parse(self, credentials: Credentials) -> Any: ...

    def verify(self, parsed: Any, subject: Subject) -> Verdict: ...

    def challenge(self, subject: Subject) -> str: ...

    def presented(self, parsed: Any) -> bytes | None:
        """The secret as presented, for the throttle's pass of a station that presents
        what it was let in with lately (`admission.recently_admitted`); None if the
        scheme's credentials differ on every attempt."""
        ...


class Registry:
    """The schemes this CSMS implements, by lower-case name."""

    def __init__(self, *schemes: Scheme):
        self._schemes: dict[str, Scheme] = {}
        for scheme in schemes:
            self.register(scheme)

    def register(self, scheme: Scheme) -> None:
        key = scheme.name.lower()
        if key in self._schemes:
            raise ValueError(f"scheme {scheme.name} registered twice")
        self._schemes[key] = scheme

    def get(self, name: str) -> Scheme | None:
        return self._schemes.get(name.lower())

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._schemes

    def names(self) -> list[str]:
        return [s.name for s in self._schemes.values()]

"""The tenant's authorization server as the station side needs it, behind an interface.

`csms` (which checks a station's `Authorization: Bearer` token and keeps its methods)
and `oauth` (which holds the signing keys, the issued tokens and the trust records) are
siblings that may not import each other (pyproject.toml, `[tool.importlinter]`). So the
CSMS asks this module, and the authorization server fills it when its app is ready
(`oauth.station_keys.register`), the way RAR types register with the AS: dependency
inversion, with neither app knowing the other's models.

What the authority answers:

* `verification_keys(tenant, kid)`: the public keys the tenant's access tokens may be
  signed with (its published signing keys, including a rotation's pre-published next
  key), already fitted to their algorithm, with the issuer and the OCPP audience the
  tokens must name. Cached in the process; never an HTTP fetch of the JWKS.
* `token_is_active(tenant_id, jti)`: whether the access token with that `jti` is still
  recorded (not revoked), one indexed read.
* the stations' registered public keys: `add_key`, `keys_of`, `retire_key`, `has_key`.

And the other way: the authority tells whoever listens (`on_tokens_revoked`: the CSMS,
which closes the connection a revoked token opened) which station tokens it revoked
(`tokens_revoked`), whatever the path (RFC 7009, a retired key, the admin).

Without an authorization server installed, `authority()` is None and Bearer refuses
every token (the CLI and API say so).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BearerKeys:
    """What a station's access token is checked against: who issues them (`iss`), the
    audience they must name (`aud`: the tenant's OCPP endpoint), the algorithms the
    server signs with (an explicit list), and its keys by kid, each `(alg, key)` with
    the key already vetted for its algorithm (`lib.jose.key_fitting`)."""

    issuer: str
    audience: str
    algorithms: tuple[str, ...]
    keys: Mapping[str, tuple[str, Any]] = field(default_factory=dict)


class StationKeyRefused(ValueError):
    """A station key the authority refuses to register; the message says why."""


class StationAuthority(Protocol):
    def verification_keys(self, tenant, kid: str = "") -> BearerKeys: ...

    def token_is_active(self, tenant_id: int, jti: str) -> bool: ...

    def add_key(self, tenant, identity: str, key_text: str, kid: str = "") -> dict: ...

    def keys_of(self, tenant, identity: str) -> list[dict]: ...

    def retire_key(self, tenant, identity: str, kid: str) -> dict | None: ...

    def has_key(self, tenant, identity: str) -> bool: ...


_authority: StationAuthority | None = None


def register(authority: StationAuthority) -> None:
    """Called once by the authorization server's app config (`ready`)."""
    global _authority
    _authority = authority


def authority() -> StationAuthority | None:
    return _authority


def ocpp_audience(public_url: str, tenant_slug: str) -> str:
    """The `aud` of a station's access token: the tenant's OCPP endpoint, as stations
    connect to it (`ws(s)://<host>/ocpp/<tenant>`), so a token the AS issues for its
    own APIs is never taken for one, and one tenant's never for another's."""
    scheme, sep, rest = public_url.rstrip("/").partition("://")
    ws = {"https": "wss", "http": "ws"}.get(scheme.lower(), scheme)
    return f"{ws}{sep}{rest}/ocpp/{tenant_slug}"


# --- revoked station tokens ----------------------------------------------------------------

@dataclass(frozen=True)
class RevokedToken:
    """A station's access token the authority revoked: in which tenant, for which station
    (the token's `sub`, the station's identity), and its `jti`."""

    tenant_id: int
    identity: str
    jti: str


_revocation_listeners: list[Callable[[list[RevokedToken]], None]] = []


def on_tokens_revoked(listener: Callable[[list[RevokedToken]], None]) -> None:
    """Called once by the CSMS's app config: `listener` hears of every revocation."""
    if listener not in _revocation_listeners:
        _revocation_listeners.append(listener)


def tokens_revoked(revoked: Iterable[RevokedToken]) -> bool:
    """The authority revoked these tokens (called after its transaction committed).
    Whether every listener acted; one that fails is logged, and the authority announces
    again later: the revocation itself stands either way."""
    revoked = list(revoked)
    if not revoked:
        return True
    heard = True
    for listener in _revocation_listeners:
        try:
            listener(revoked)
        except Exception:
            log.exception("a listener failed to act on %d revoked station token(s)", len(revoked))
            heard = False
    return heard

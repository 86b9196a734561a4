"""The records behind the Bearer scheme (csms/auth/bearer.py): what the handshake reads
for it, the check after the claim, and the station public keys the commands and the
API register — all through the tenant's authorization server as `lib.station_authority`
offers it (the CSMS never imports `oauth`; pyproject.toml's layers).
"""
from lib import jose
from lib import station_authority as authority_api
from lib.http_auth import Credentials
from lib.station_authority import StationKeyRefused

from . import announce
from .auth import keys
from .credentials import audit
from .models import Station

__all__ = ["StationKeyRefused", "NoAuthorizationServer", "add_key", "keys_of", "retire_key"]


class NoAuthorizationServer(RuntimeError):
    """No authorization server is installed to hold station keys (INSTALLED_APPS)."""


def _authority():
    found = authority_api.authority()
    if found is None:
        raise NoAuthorizationServer("no authorization server is installed: stations cannot use Bearer")
    return found


# --- what the handshake reads ---------------------------------------------------------------

def presents_bearer(credentials: Credentials | None) -> bool:
    return credentials is not None and credentials.scheme == "bearer"


def kid_of(credentials: Credentials) -> str:
    """The `kid` of the presented token's header, unverified: only to tell the key cache
    which key is wanted (a kid it does not know makes it refetch, bounded)."""
    try:
        header_segment = (credentials.token68 or b"").decode("ascii").split(".", 1)[0]
        kid = jose.decode_header(header_segment).get("kid")
    except (jose.Refused, ValueError):
        return ""
    return kid if isinstance(kid, str) and len(kid) <= jose.MAX_KID_LENGTH else ""


def stored_bearer(station: Station, credentials: Credentials) -> keys.StoredBearer:
    """The tenant's token keys, from the authority's per-process cache (a query only when
    it is cold, stale or asked for a kid it does not know)."""
    found = authority_api.authority()
    if found is None:
        return keys.StoredBearer(None)
    return keys.StoredBearer(found.verification_keys(station.tenant, kid_of(credentials)))


def token_is_active(tenant_id: int, jti: str) -> bool:
    """Checked after the connection claims the station: a revoked token's record is gone."""
    found = authority_api.authority()
    return found is not None and found.token_is_active(tenant_id, jti)


def close_revoked(revoked: list[authority_api.RevokedToken]) -> None:
    """The authorization server revoked these access tokens (any path: RFC 7009, a
    retired key, the admin): close the connection each one opened, wherever it is held,
    and no other (its claim recorded the token's jti). Called after the revocation
    committed (oauth/revocation.py), so a handshake racing it is refused by its own
    check after the claim or found here."""
    for token in revoked:
        opened = Station.objects.filter(
            tenant_id=token.tenant_id, identity=token.identity, connected=True, last_auth_method="bearer",
            last_auth_credential=token.jti).only("pk", "connection_id")
        for station in opened:
            announce.revoke_connection(station, connection_id=station.connection_id)


def holds_key(station: Station) -> bool:
    found = authority_api.authority()
    return found is not None and found.has_key(station.tenant, station.identity)


# --- the station's registered public keys -------------------------------------------------

def add_key(station: Station, key_text: str, kid: str = "", actor: str = "cli") -> dict:
    """Register the station's public key with its tenant's authorization server."""
    row = _authority().add_key(station.tenant, station.identity, key_text, kid)
    audit(station, actor, "key.added", row["kid"])
    return row


def keys_of(station: Station) -> list[dict]:
    return _authority().keys_of(station.tenant, station.identity)


def retire_key(station: Station, kid: str, actor: str = "cli") -> dict | None:
    """Retire one key at once; the station's access tokens are revoked with it and a
    Bearer connection is closed (a retired key may have leaked)."""
    row = _authority().retire_key(station.tenant, station.identity, kid)
    if row is None:
        return None
    audit(station, actor, "key.retired", kid)
    current = Station.objects.select_related("tenant").get(pk=station.pk)
    if current.last_auth_method == "bearer" and current.connected:
        announce.revoke_connection(current)
    return row


def retire_all(station: Station, actor: str) -> int:
    """Retire every active key of a station that is going away: its trust records outlive
    the station row, and a station registered later under the same identity must not
    inherit them (nor the access tokens they obtained). The number retired."""
    found = authority_api.authority()
    if found is None:
        return 0
    active = [k["kid"] for k in found.keys_of(station.tenant, station.identity) if k.get("active")]
    for kid in active:
        found.retire_key(station.tenant, station.identity, kid)
        audit(station, actor, "key.retired", kid)
    return len(active)


"""Charging stations as signers of jwt-bearer assertions, and the keys their access
tokens are checked with: the authorization server's side of the Bearer station scheme
(docs/station-auth.md, "Bearer"), registered as `lib.station_authority`'s authority.

A station's public key is an ordinary trust record (`TrustedKey`, what the jwt-bearer
grant already validates, RFC 7523 §2.1): issuer and subject are the station's identity,
the client is the tenant's stations client (`STATION_CLIENT_ID`, public, jwt-bearer
only, made with the first key). The grant then issues a short-lived access token whose
`aud` is the tenant's OCPP endpoint and whose `sub` is the station (`grants.jwt_bearer`
asks `is_station_client`).

The CSMS checks those tokens without HTTP: `verification_keys` hands it the tenant's
published signing keys (the next key of a rotation too), fitted to their algorithms and
cached per process for `KEYS_CACHE_SECONDS`; a kid it does not know refetches them, at
most once per `UNKNOWN_KID_REFETCH_SECONDS` per tenant, so a flood of made-up kids costs
no queries. Revocation is the issued token's row: `token_is_active` is one indexed read.
"""
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry

from lib import jose, labels
from lib import station_authority as authority_api
from lib.prepared import Prepared
from lib.station_authority import BearerKeys, StationKeyRefused
from lib.timestamps import rfc3339

from . import issuer, registration, revocation, signing_keys
from .models import STATION_CLIENT_ID, AccessToken, Client, GrantType, SigningKey, TrustedKey

SCOPE = "ocpp"
KEYS_CACHE_SECONDS = 60
UNKNOWN_KID_REFETCH_SECONDS = 5
MAX_CACHED_TENANTS = 4096
# What a station may sign its assertions with, by key: EC P-256, Ed25519, RSA of 2048+ bits.
STATION_ALGORITHMS = {("EC", "P-256"): ["ES256"], ("OKP", "Ed25519"): ["EdDSA", "Ed25519"], ("RSA", None): ["RS256", "PS256"]}


def token_seconds() -> int:
    """How long a station's access token lives (OAUTH_STATION_TOKEN_SECONDS, 5 minutes by
    default): it is presented once per connection, so short costs little."""
    return settings.OAUTH["STATION_TOKEN_SECONDS"]


def audience(tenant) -> str:
    return authority_api.ocpp_audience(settings.PUBLIC_URL, tenant.slug)


def is_station_client(client: Client) -> bool:
    return client.client_id == STATION_CLIENT_ID


def station_client(tenant, *, create: bool = False) -> Client | None:
    client = Client.objects.for_tenant(tenant).filter(client_id=STATION_CLIENT_ID).first()
    if client is None and create:
        try:
            with transaction.atomic():
                client = Client.objects.create(
                    tenant=tenant, client_id=STATION_CLIENT_ID, name="Charging stations (Bearer)",
                    redirect_uris="", grant_types=[GrantType.JWT_BEARER], scopes=[SCOPE],
                    token_endpoint_auth_method=Client.AuthMethod.NONE, client_type=Client.CLIENT_PUBLIC,
                    authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, client_secret="",
                    hash_client_secret=False)
        except IntegrityError:  # made by a concurrent first key
            client = Client.objects.for_tenant(tenant).get(client_id=STATION_CLIENT_ID)
    return client


# --- registered station keys ----------------------------------------------------------------

def _station_key(key_text: str):
    """The key, if it is one a station may register; its algorithms."""
    try:
        key = registration.public_key(key_text)
    except registration.RegistrationError as exc:
        raise StationKeyRefused(str(exc)) from None
    curve = getattr(key, "curve_name", None) if key.key_type != "RSA" else None
    algorithms = STATION_ALGORITHMS.get((key.key_type, curve))
    if algorithms is None:
        raise StationKeyRefused(f"a station key is EC P-256, Ed25519 or RSA of 2048 bits or more, "
                                f"not {key.key_type} {curve or ''}".strip())
    return key, algorithms


def key_summary(row: TrustedKey) -> dict:
    """What may be shown of a station key; `thumbprint` is its RFC 7638 SHA-256
    fingerprint, which names the key whatever kid the operator chose."""
    jwk = row.public_jwk
    return {"kid": row.kid, "kty": jwk.get("kty"), "crv": jwk.get("crv"), "algorithms": row.algorithms,
            "thumbprint": JWKRegistry.import_key(jwk).thumbprint(),
            "created_at": rfc3339(row.created_at), "active": row.retired_at is None,
            "retired_at": rfc3339(row.retired_at)}


def _rows(tenant, identity: str):
    return (TrustedKey.objects.for_tenant(tenant)
            .filter(client__client_id=STATION_CLIENT_ID, issuer=identity, subject=identity).order_by("created_at", "pk"))


def add_key(tenant, identity: str, key_text: str, kid: str = "") -> dict:
    """Register a station's public key (PEM or JWK; never a private key) under `kid`, or
    the JWK's own kid, or its RFC 7638 thumbprint."""
    key, algorithms = _station_key(key_text)
    kid = kid or key.as_dict(private=False).get("kid") or key.thumbprint()
    longest = min(jose.MAX_KID_LENGTH, TrustedKey._meta.get_field("kid").max_length)
    if not 0 < len(kid) <= longest:
        raise StationKeyRefused(f"a kid is 1 to {longest} characters")
    found = labels.problem(kid)
    if found:
        raise StationKeyRefused(f"kid: {found}")
    public = {k: v for k, v in key.as_dict(private=False).items() if k not in ("kid", "alg", "use", "key_ops")}
    with transaction.atomic():
        client = station_client(tenant, create=True)
        if TrustedKey.objects.for_tenant(tenant).filter(issuer=identity, kid=kid).exists():
            raise StationKeyRefused(f"{identity} already has a key {kid}")
        row = TrustedKey.objects.create(tenant=tenant, client=client, issuer=identity, subject=identity, kid=kid,
                                        public_jwk=public, algorithms=algorithms, scopes=[SCOPE])
    return key_summary(row)


def keys_of(tenant, identity: str) -> list[dict]:
    return [key_summary(row) for row in _rows(tenant, identity)]


def has_key(tenant, identity: str) -> bool:
    return _rows(tenant, identity).filter(retired_at__isnull=True).exists()


def retire_key(tenant, identity: str, kid: str) -> dict | None:
    """Stop accepting the key's assertions at once, and revoke the access tokens the
    station holds (which key obtained which is not recorded; a retired key may have
    leaked). None if the station has no such key."""
    with transaction.atomic():
        row = _rows(tenant, identity).filter(kid=kid).select_for_update().first()
        if row is None:
            return None
        if row.retired_at is None:
            row.retired_at = timezone.now()
            row.save(update_fields=["retired_at"])
        revoked = revocation.revoke_access_tokens(AccessToken.objects.for_tenant(tenant).filter(
            application__client_id=STATION_CLIENT_ID, subject=identity))
    return dict(key_summary(row), tokens_revoked=revoked)


# --- what the CSMS checks a station's access token with -----------------------------------------

@dataclass(frozen=True)
class _Cached:
    keys: BearerKeys
    fetched: float


_cache: dict[int, _Cached] = {}
_cache_lock = threading.Lock()


def _fitted(rows) -> dict:
    fitted = {}
    for row in rows:
        try:
            fitted[row.kid] = (row.alg, jose.key_fitting(row.public_jwk, row.alg))
        except (jose.Refused, JoseError):
            continue  # a key we could not verify with is as good as unpublished
    return fitted


def _published_rows(tenant):
    """The tenant's JWKS, read-only (signing_keys.published also retires what expired)."""
    now = timezone.now()
    return (SigningKey.objects.for_tenant(tenant).exclude(state=SigningKey.State.RETIRED)
            .exclude(Q(state=SigningKey.State.RETIRING) & Q(publish_until__lte=now)))


def verification_keys(tenant, kid: str = "") -> BearerKeys:
    now = time.monotonic()
    cached = _cache.get(tenant.pk)
    if cached is not None:
        age = now - cached.fetched
        if age < KEYS_CACHE_SECONDS and (not kid or kid in cached.keys.keys or age < UNKNOWN_KID_REFETCH_SECONDS):
            return cached.keys
    keys = BearerKeys(issuer=issuer.issuer(tenant), audience=audience(tenant),
                      algorithms=tuple(signing_keys.ALGORITHMS), keys=_fitted(_published_rows(tenant)))
    with _cache_lock:
        if len(_cache) >= MAX_CACHED_TENANTS:
            _cache.clear()
        _cache[tenant.pk] = _Cached(keys, now)
    return keys


_recorded_token = Prepared(lambda tenant_id, jti: AccessToken.objects.filter(
    tenant_id=tenant_id, jti=jti).values_list("pk", flat=True)[:1], tenant_id=int, jti=str)


def token_is_active(tenant_id: int, jti: str) -> bool:
    """Revoking an access token deletes its record (`oauth/revocation.py`)."""
    return bool(jti) and bool(_recorded_token(tenant_id=tenant_id, jti=jti))


class _Authority:
    """`lib.station_authority.StationAuthority`, by this module's functions."""

    verification_keys = staticmethod(verification_keys)
    token_is_active = staticmethod(token_is_active)
    add_key = staticmethod(add_key)
    keys_of = staticmethod(keys_of)
    retire_key = staticmethod(retire_key)
    has_key = staticmethod(has_key)


def register() -> None:
    authority_api.register(_Authority())


def lifetime() -> timedelta:
    return timedelta(seconds=token_seconds())

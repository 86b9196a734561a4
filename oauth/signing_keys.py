"""Per-tenant token signing keys: generation, encryption at rest, rotation, JWKS.

Private keys are sealed at rest (lib.sealing: AES-256-GCM under the platform's
key-encryption key). The tenant and kid are the AEAD's associated data, so a sealed key
copied to another row does not open.
"""
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone
from joserfc.jwk import ECKey, RSAKey

from lib.sealing import KeyEncryptionError, seal, unseal  # noqa: F401  (KeyEncryptionError: for callers)

from .models import SigningKey

ALGORITHMS = ("ES256", "PS256")
RSA_BITS = 3072  # PS256: comfortably above the 2048-bit floor


def _aad(tenant_id: int, kid: str) -> bytes:
    return f"{tenant_id}:{kid}".encode()


def _generate(alg: str):
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    if alg == "PS256":
        return RSAKey.generate_key(RSA_BITS)
    raise ValueError(f"signing algorithm must be one of {ALGORITHMS}")


def token_lifetime() -> timedelta:
    return timedelta(seconds=settings.OAUTH.get("MAX_TOKEN_LIFETIME_SECONDS", 3600))


def rotate(tenant, alg: str | None = None) -> SigningKey:
    """Make a fresh key the tenant's active one; the old one stays published until every
    token it may have signed has expired."""
    alg = alg or settings.OAUTH.get("DEFAULT_SIGNING_ALG", "ES256")
    jwk = _generate(alg)
    kid = jwk.thumbprint()
    with transaction.atomic():
        now = timezone.now()
        SigningKey.objects.select_for_update().filter(tenant=tenant, state=SigningKey.State.ACTIVE).update(
            state=SigningKey.State.RETIRING, publish_until=now + token_lifetime())
        public = dict(jwk.as_dict(private=False), kid=kid, alg=alg, use="sig")
        return SigningKey.objects.create(
            tenant=tenant, kid=kid, alg=alg, public_jwk=public,
            private_key_encrypted=seal(jwk.as_pem(private=True), _aad(tenant.pk, kid)))


def active_key(tenant) -> SigningKey:
    """The tenant's signing key, created on first use — once, however many requests
    arrive together: the first takes the tenant row's write lock (an UPDATE locks on
    PostgreSQL and SQLite alike, where SELECT FOR UPDATE is a no-op on SQLite), the
    others wait and then find its key."""
    active = SigningKey.objects.for_tenant(tenant).filter(state=SigningKey.State.ACTIVE)
    key = active.first()
    if key is not None:
        return key
    with transaction.atomic():
        type(tenant).objects.filter(pk=tenant.pk).update(name=F("name"))
        return active.first() or rotate(tenant)


def private_jwk(key: SigningKey):
    pem = unseal(key.private_key_encrypted, _aad(key.tenant_id, key.kid))
    cls = ECKey if key.alg == "ES256" else RSAKey
    return cls.import_key(pem, parameters={"kid": key.kid, "alg": key.alg, "use": "sig"})


# --- the key new tokens are signed with -------------------------------------------------------
#
# Which kid is active is read from the database for every request, in the same query as
# the tenant (`issuer.authorization_server` annotates it), so a rotation in any process
# takes effect on the next token. What a process keeps is only the opened key of a kid:
# a kid is its key's thumbprint, so what it names never changes, and a rotation names a
# new one. Entries are per (tenant, kid), and a kid is unique across tenants anyway.

ACTIVE_KID = "active_signing_kid"
MAX_OPENED_KEYS = 1024


@dataclass(frozen=True)
class Signer:
    kid: str
    alg: str
    private_key: ECKey | RSAKey


_opened: dict[tuple[int, str], Signer] = {}


def active_kid_annotation() -> dict:
    """For a Tenant queryset: the kid of its active key (None before its first token)."""
    active = SigningKey.objects.filter(tenant=OuterRef("pk"), state=SigningKey.State.ACTIVE)
    return {ACTIVE_KID: Subquery(active.values("kid")[:1])}


def signer(tenant) -> Signer:
    """The tenant's active key, opened. Costs no query when `tenant` was read with
    `active_kid_annotation()` and this process has opened that kid before."""
    kid = getattr(tenant, ACTIVE_KID, None)
    opened = _opened.get((tenant.pk, kid)) if kid else None
    if opened is None:
        key = active_key(tenant)
        opened = Signer(key.kid, key.alg, private_jwk(key))
        if len(_opened) >= MAX_OPENED_KEYS:
            _opened.clear()  # bounded: a process serving more tenants than this reopens keys
        _opened[(key.tenant_id, key.kid)] = opened
    return opened


def published(tenant) -> list[SigningKey]:
    """The keys in the tenant's JWKS: the active one and those still retiring."""
    now = timezone.now()
    keys = list(SigningKey.objects.for_tenant(tenant).exclude(state=SigningKey.State.RETIRED))
    expired = [k.pk for k in keys if k.state == SigningKey.State.RETIRING
               and k.publish_until and k.publish_until <= now]
    if expired:
        SigningKey.objects.filter(pk__in=expired).update(state=SigningKey.State.RETIRED)
    return [k for k in keys if k.pk not in expired]


def jwks(tenant) -> dict:
    return {"keys": [k.public_jwk for k in published(tenant)]}

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

from lib import jose
from lib.sealing import KeyEncryptionError, seal, unseal  # noqa: F401  (KeyEncryptionError: for callers)
from lib.timestamps import rfc3339
from tenants import audit

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


class RotationError(ValueError):
    pass


def publish_ahead() -> timedelta:
    """How long a rotation's next key is published before it signs: relying parties
    cache a JWKS (RFC 7517 says nothing of how long; a day is common), and one that
    meets a token signed by a kid it has not seen may refuse it before it refetches."""
    return timedelta(seconds=settings.OAUTH.get("KEY_PUBLISH_AHEAD_SECONDS", 86400))


def rotate(tenant, alg: str | None = None, *, at_once: bool = False, actor: str = "cli") -> SigningKey:
    """Rotate the tenant's signing key (`_rotate`), audited as `oauth.signing_key_rotated`."""
    with transaction.atomic():
        key = _rotate(tenant, alg, at_once=at_once)
        audit.record(tenant, actor, "oauth.signing_key_rotated", key.state, kid=key.kid, alg=key.alg,
                     at_once=at_once)
    return key


def _rotate(tenant, alg: str | None = None, *, at_once: bool = False) -> SigningKey:
    """Rotate the tenant's signing key.

    By default the fresh key is published now and signs from `publish_ahead()` on
    (`promote_due`, a periodic task, makes it active then); the old key signs until then
    and stays published until every token it signed has expired. `at_once` (a key
    compromise, or a tenant's first key) makes the fresh key, or the next key already
    published, active now."""
    with transaction.atomic():
        now = timezone.now()
        pending = (SigningKey.objects.select_for_update()
                   .filter(tenant=tenant, state=SigningKey.State.NEXT).first())
        if not at_once:
            if pending is not None:
                raise RotationError(
                    f"a next key ({pending.kid[:12]}…) is already published and signs from "
                    f"{rfc3339(pending.signs_from)}; rotate at once to make it sign now")
            return _new_key(tenant, alg, SigningKey.State.NEXT, signs_from=now + publish_ahead())
        if pending is not None and alg in (None, pending.alg):
            _activate(pending, now)
            return pending
        if pending is not None:  # a compromise with another algorithm: that one is not used
            pending.state, pending.publish_until = SigningKey.State.RETIRED, now
            pending.save(update_fields=["state", "publish_until"])
        _retire_active(tenant, now)
        return _new_key(tenant, alg, SigningKey.State.ACTIVE)


def promote_due(now=None) -> int:
    """Make every next key whose time has come its tenant's active one. How many."""
    now = now or timezone.now()
    promoted = 0
    for key in SigningKey.objects.filter(state=SigningKey.State.NEXT, signs_from__lte=now):
        with transaction.atomic():
            fresh = SigningKey.objects.select_for_update().filter(pk=key.pk, state=SigningKey.State.NEXT).first()
            if fresh is not None:
                _activate(fresh, now)
                promoted += 1
    return promoted


def _activate(key: SigningKey, now) -> None:
    _retire_active(key.tenant, now)
    key.state, key.signs_from = SigningKey.State.ACTIVE, min(key.signs_from or now, now)
    key.save(update_fields=["state", "signs_from"])


def _retire_active(tenant, now) -> None:
    SigningKey.objects.select_for_update().filter(tenant=tenant, state=SigningKey.State.ACTIVE).update(
        state=SigningKey.State.RETIRING, publish_until=now + token_lifetime())


def _new_key(tenant, alg: str | None, state: str, signs_from=None) -> SigningKey:
    alg = alg or settings.OAUTH.get("DEFAULT_SIGNING_ALG", "ES256")
    jwk = _generate(alg)
    kid = jwk.thumbprint()
    public = dict(jwk.as_dict(private=False), kid=kid, alg=alg, use="sig")
    return SigningKey.objects.create(
        tenant=tenant, kid=kid, alg=alg, public_jwk=public, state=state, signs_from=signs_from,
        private_key_encrypted=seal(jwk.as_pem(private=True), _aad(tenant.pk, kid)))


def active_key(tenant) -> SigningKey:
    """The tenant's signing key, created on first use — once, however many requests
    arrive together: the first takes the tenant row's write lock (an UPDATE locks on
    PostgreSQL and SQLite alike, where SELECT FOR UPDATE is a no-op on SQLite), the
    others wait and then find its key. A first key signs at once: nobody has cached a
    JWKS without it."""
    active = SigningKey.objects.for_tenant(tenant).filter(state=SigningKey.State.ACTIVE)
    key = active.first()
    if key is not None:
        return key
    with transaction.atomic():
        type(tenant).objects.filter(pk=tenant.pk).update(name=F("name"))
        # A tenant's first key, made when it first signs: no one's change, not audited.
        return active.first() or _rotate(tenant, at_once=True)


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


# --- the keys tokens are checked with --------------------------------------------------------
#
# Our resource servers (/pnc/<tenant>/csr, the REST APIs) check a token's signature with the
# one key its kid names. For the same reason as above, a process keeps that public key,
# fitted to its algorithm, per (tenant, kid): no JWKS read and no JWK parsing per request.
# Not a tenant-wide key set with a refetch window, as the station handshake's cache
# (oauth/station_keys.py) is: a kid a process has not seen (a fresh tenant's first key, a
# rotation `--now`) is read at once, with one indexed query. That costs little here, as every
# token costs its record's read anyway, and a forged kid finds no record either.
# A cached key that has since been retired only ever signed tokens that have expired.

MAX_VERIFYING_KEYS = 1024


@dataclass(frozen=True)
class Verifier:
    alg: str
    public_key: ECKey | RSAKey


_verifying: dict[tuple[int, str], Verifier] = {}


def verifier(tenant, kid: str) -> Verifier | None:
    """The published key `kid` of the tenant, fitted to its algorithm (lib.jose), or None."""
    found = _verifying.get((tenant.pk, kid))
    if found is None:
        row = SigningKey.objects.for_tenant(tenant).filter(kid=kid).exclude(state=SigningKey.State.RETIRED).first()
        if row is None:
            return None
        try:
            found = Verifier(row.alg, jose.key_fitting(row.public_jwk, row.alg))
        except jose.Refused:
            return None  # a key we could not verify with is as good as unpublished
        if len(_verifying) >= MAX_VERIFYING_KEYS:
            _verifying.clear()
        _verifying[(tenant.pk, kid)] = found
    return found


def published(tenant) -> list[SigningKey]:
    """The keys in the tenant's JWKS: the next one (before it signs), the active one and
    those still retiring."""
    now = timezone.now()
    keys = list(SigningKey.objects.for_tenant(tenant).exclude(state=SigningKey.State.RETIRED))
    expired = [k.pk for k in keys if k.state == SigningKey.State.RETIRING
               and k.publish_until and k.publish_until <= now]
    if expired:
        SigningKey.objects.filter(pk__in=expired).update(state=SigningKey.State.RETIRED)
    return [k for k in keys if k.pk not in expired]


def jwks(tenant) -> dict:
    return {"keys": [k.public_jwk for k in published(tenant)]}

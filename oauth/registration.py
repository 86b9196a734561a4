"""Registering clients and trust records, and changing them (the `oauth client` and
`oauth trust` commands and the portal's OAuth pages). Everything is validated before
anything is written, and every change is audited (`tenants.audit`) with its actor: the
user's name from a page, "cli" from a command; never a secret or a key."""
import json
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from lib import labels
from lib.timestamps import rfc3339
from tenants import audit

from . import client_auth, rar, redirect_uris
from .assertions import SCOPE_TOKEN
from .models import STATION_CLIENT_ID, Client, GrantType, TrustedKey

ALGORITHMS_BY_KEY = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512"),
    "OKP": ("EdDSA",),
}


# Client ids are URL-safe names with at least one letter: an all-digit client id would
# read like a user's subject (user ids are the `sub` of the code flow's tokens).
CLIENT_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9._~-]{1,100}$")
# Schemes a browser would execute or read locally rather than hand to an app.
FORBIDDEN_SCHEMES = {"javascript", "data", "file", "vbscript", "about", "blob", "filesystem"}


SECRET_METHODS = (Client.AuthMethod.CLIENT_SECRET_BASIC, Client.AuthMethod.CLIENT_SECRET_POST)


class RegistrationError(ValueError):
    pass


# Every authorization request compares its redirect_uri with each registered one: a
# client of 20,000 URIs (or of 100 kB each) made that work, and the client's row,
# unbounded. Browsers keep URLs of a few thousand characters.
MAX_REDIRECT_URIS = 20
MAX_REDIRECT_URI_LENGTH = 2000


def check_redirect_uri(uri: str) -> str:
    """Absolute, no fragment (RFC 6749 §3.1.2); https, or http only to a loopback IP
    literal (RFC 8252 §7.3, §8.3: not `localhost`) — or a private-use scheme for native
    apps (RFC 8252 §7.1), never one the browser would run itself."""
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise RegistrationError(f"a redirect URI has at most {MAX_REDIRECT_URI_LENGTH} characters")
    problem = redirect_uris.syntax_problem(uri)
    if problem:
        raise RegistrationError(f"redirect URI {uri!r} {problem}")
    parts = urlsplit(uri)
    if not parts.scheme:
        raise RegistrationError(f"redirect URI {uri!r} must be absolute")
    if parts.scheme.lower() in FORBIDDEN_SCHEMES:
        raise RegistrationError(f"redirect URI {uri!r}: the {parts.scheme} scheme is not allowed")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "::1"):
        raise RegistrationError(f"redirect URI {uri!r}: http is allowed only to 127.0.0.1 or [::1]")
    if parts.scheme in ("http", "https") and not parts.hostname:
        raise RegistrationError(f"redirect URI {uri!r} has no host")
    return uri


def public_key(text: str):
    """A public key from a PEM or a JWK (JSON); private material is refused."""
    text = text.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
            if any(k in data for k in ("d", "p", "q", "k")):
                raise RegistrationError("that JWK holds a private key: give the public key only")
            key = JWKRegistry.import_key(data)
        else:
            if "PRIVATE KEY" in text:
                raise RegistrationError("that PEM holds a private key: give the public key only")
            key = None
            for cls in (RSAKey, ECKey, OKPKey):
                try:
                    key = cls.import_key(text)
                    break
                except (JoseError, ValueError, TypeError):
                    continue
            if key is None:
                raise RegistrationError("not a public key in PEM or JWK form")
    except RecursionError:  # json: nested deeper than the interpreter's stack
        raise RegistrationError("not a usable public key: its JSON is nested too deeply") from None
    except (JoseError, ValueError, TypeError, LookupError) as exc:  # joserfc: KeyError for an unknown curve
        if isinstance(exc, RegistrationError):
            raise
        raise RegistrationError(f"not a usable public key: {exc}") from None
    if key.key_type == "oct":
        raise RegistrationError("symmetric keys cannot sign assertions here")
    if key.key_type == "RSA" and key.raw_value.key_size < 2048:
        raise RegistrationError("RSA keys must have at least 2048 bits")
    return key


def check_algorithms(key, algorithms: list[str]) -> list[str]:
    allowed = ALGORITHMS_BY_KEY[key.key_type]
    if not algorithms:
        raise RegistrationError("name at least one signing algorithm")
    wrong = [a for a in algorithms if a not in allowed]
    if wrong:
        raise RegistrationError(f"{', '.join(wrong)} cannot be used with a {key.key_type} key "
                                f"(allowed: {', '.join(allowed)})")
    if key.key_type == "EC":
        curve = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
        if any(curve[a] != key.curve_name for a in algorithms):
            raise RegistrationError(f"the key's curve {key.curve_name} does not fit {', '.join(algorithms)}")
    return algorithms


@dataclass
class TrustSpec:
    issuer: str
    subject: str
    kid: str
    key_text: str
    algorithms: list[str]
    scopes: list[str]
    valid_from: datetime | None = None
    valid_until: datetime | None = None


def check_text(label: str, value: str, model, field: str) -> None:
    """`value` fits `model.field`: at most its max_length, no control or invisible
    formatting character (`lib.labels`: they would make tables and the audit log lie). SQLite
    stores anything; PostgreSQL refuses an overlong value or a NUL (a 500), so the
    service refuses them first, for the CLI, the portal and the API alike."""
    limit = model._meta.get_field(field).max_length
    if len(value) > limit:
        raise RegistrationError(f"{label}: at most {limit} characters")
    found = labels.problem(value)
    if found:
        raise RegistrationError(f"{label}: {found}")


def add_trust(client: Client, spec: TrustSpec, *, actor: str = "cli") -> TrustedKey:
    for label, field in (("issuer", "issuer"), ("subject", "subject"), ("kid", "kid")):
        check_text(label, getattr(spec, field), TrustedKey, field)
    key = public_key(spec.key_text)
    check_algorithms(key, spec.algorithms)
    if not spec.kid:
        raise RegistrationError("a trust record needs the kid the signer puts in its header")
    if spec.subject.isdigit():
        raise RegistrationError("an all-digit subject would read like a user id in our tokens")
    if spec.valid_from and spec.valid_until and spec.valid_until <= spec.valid_from:
        raise RegistrationError("valid-until must be after valid-from")
    extra = [s for s in spec.scopes if s not in client.scopes]
    if extra:
        raise RegistrationError(f"scopes the client does not have: {' '.join(extra)}")
    if TrustedKey.objects.for_tenant(client.tenant).filter(issuer=spec.issuer, kid=spec.kid).exists():
        raise RegistrationError(f"issuer {spec.issuer} already has a key {spec.kid}")
    with transaction.atomic():
        record = TrustedKey.objects.create(
            tenant=client.tenant, client=client, issuer=spec.issuer, subject=spec.subject, kid=spec.kid,
            public_jwk=key.as_dict(private=False), algorithms=spec.algorithms, scopes=spec.scopes,
            valid_from=spec.valid_from, valid_until=spec.valid_until)
        _audit_trust(record, actor, "oauth.trust_added", thumbprint=key.thumbprint())
    return record


def _audit_trust(record: TrustedKey, actor: str, action: str, outcome: str = "", **detail) -> None:
    audit.record(record.tenant_id, actor, action, outcome, client=record.client.client_id,
                 issuer=record.issuer, subject=record.subject, kid=record.kid, **detail)


def _audit_client(client: Client, actor: str, action: str, outcome: str = "", **detail) -> None:
    audit.record(client.tenant_id, actor, action, outcome, client=client.client_id, **detail)


@dataclass
class ClientSpec:
    client_id: str
    name: str
    redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    auth_method: str
    require_par: bool = False
    jwks_text: str | None = None  # private_key_jwt: the client's public keys
    detail_types: list[str] | None = None  # RFC 9396 types it may request; None: any


def _jwks_keys(text: str) -> list[dict]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise RegistrationError("the JWKS file is not JSON (or is nested too deeply)") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys:
        raise RegistrationError('the JWKS file must be {"keys": [...]} with at least one key')
    return keys


def add_client(tenant, spec: ClientSpec, *, actor: str = "cli") -> tuple[Client, str | None]:
    """Create a client; return it and its secret (shown once) if it has one."""
    check_text("name", spec.name, Client, "name")
    wrong = [s for s in spec.scopes if not SCOPE_TOKEN.fullmatch(s)]
    if wrong:
        raise RegistrationError(f"scope {wrong[0]!r}: a scope is printable ASCII without space, \" or \\ "
                                "(RFC 6749 §3.3)")
    if not CLIENT_ID.fullmatch(spec.client_id):
        raise RegistrationError("client id: 1-100 of A-Z a-z 0-9 . _ ~ -, with at least one letter")
    if spec.client_id == STATION_CLIENT_ID:
        raise RegistrationError(f"{STATION_CLIENT_ID} is reserved for the tenant's charging stations "
                                "(`station key add`)")
    unknown = [g for g in spec.grant_types if g not in GrantType.values]
    if unknown or not spec.grant_types:
        raise RegistrationError(f"grant types must be among: {', '.join(GrantType.values)}")
    if spec.auth_method not in Client.AuthMethod.values:
        raise RegistrationError(f"auth method must be one of {', '.join(Client.AuthMethod.values)}")
    code_flow = GrantType.AUTHORIZATION_CODE in spec.grant_types
    if code_flow and not spec.redirect_uris:
        raise RegistrationError("the authorization code grant needs at least one redirect URI")
    if spec.redirect_uris and not code_flow:
        raise RegistrationError("redirect URIs are only for the authorization code grant")
    if len(spec.redirect_uris) > MAX_REDIRECT_URIS:
        raise RegistrationError(f"a client has at most {MAX_REDIRECT_URIS} redirect URIs")
    for uri in spec.redirect_uris:
        check_redirect_uri(uri)
    public = spec.auth_method == Client.AuthMethod.NONE
    if public and set(spec.grant_types) - {GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN}:
        raise RegistrationError("a public client (auth method none) may only use the code and refresh grants")
    if (spec.auth_method == Client.AuthMethod.PRIVATE_KEY_JWT) != (spec.jwks_text is not None):
        raise RegistrationError("private_key_jwt needs --jwks, and --jwks needs private_key_jwt")
    if spec.detail_types is not None:
        unknown_types = [t for t in spec.detail_types if t not in rar.names()]
        if unknown_types:
            raise RegistrationError(f"unknown authorization details types: {', '.join(unknown_types)} "
                                    f"(known: {', '.join(rar.names())})")
        if not code_flow:
            raise RegistrationError("authorization details types are only for the authorization code grant")
    if Client.objects.for_tenant(tenant).filter(client_id=spec.client_id).exists():
        raise RegistrationError(f"client {spec.client_id} already exists")
    secret_based = spec.auth_method in SECRET_METHODS
    secret = Client._meta.get_field("client_secret").get_default() if secret_based else None
    with transaction.atomic():
        client = Client.objects.create(
            tenant=tenant, client_id=spec.client_id, name=spec.name or spec.client_id,
            redirect_uris=" ".join(spec.redirect_uris), grant_types=spec.grant_types, scopes=spec.scopes,
            token_endpoint_auth_method=spec.auth_method, require_par=spec.require_par,
            authorization_details_types=spec.detail_types,
            client_type=Client.CLIENT_PUBLIC if public else Client.CLIENT_CONFIDENTIAL,
            authorization_grant_type=(Client.GRANT_AUTHORIZATION_CODE if code_flow
                                      else Client.GRANT_CLIENT_CREDENTIALS),
            # Hashed here, so DOT's field sees a hash and keeps it.
            client_secret=client_auth.hash_secret(secret) if secret else "", hash_client_secret=secret_based)
        _audit_client(client, actor, "oauth.client_added", spec.auth_method, name=client.name,
                      grant_types=list(spec.grant_types), scopes=list(spec.scopes))
        if spec.jwks_text is not None:
            for jwk in _jwks_keys(spec.jwks_text):
                key = public_key(json.dumps(jwk))
                algs = [jwk["alg"]] if "alg" in jwk else list(ALGORITHMS_BY_KEY[key.key_type][:1])
                add_trust(client, TrustSpec(issuer=client.client_id, subject=client.client_id,
                                            kid=jwk.get("kid") or key.thumbprint(), key_text=json.dumps(jwk),
                                            algorithms=algs, scopes=list(spec.scopes)), actor=actor)
    return client, secret


# --- changing what is registered: the CLI and the portal call these, never their own copy ----

def _reserved(client: Client) -> None:
    if client.client_id == STATION_CLIENT_ID:
        raise RegistrationError(f"{STATION_CLIENT_ID} belongs to the tenant's charging stations: "
                                "their keys are managed with `station key`")


def has_secret(client: Client) -> bool:
    return client.token_endpoint_auth_method in SECRET_METHODS


def rotate_secret(client: Client, *, actor: str = "cli") -> str:
    """A fresh secret for the client, returned to be shown once; only its hash is kept.
    The old one stops working at once (the token endpoint's cache of verified secrets
    is keyed by the stored hash, which changes); tokens already issued stay valid."""
    _reserved(client)
    if not has_secret(client):
        raise RegistrationError(f"client {client.client_id} authenticates with "
                                f"{client.token_endpoint_auth_method}: it has no secret to rotate")
    secret = Client._meta.get_field("client_secret").get_default()
    with transaction.atomic():
        Client.objects.filter(pk=client.pk).update(client_secret=client_auth.hash_secret(secret))
        _audit_client(client, actor, "oauth.client_secret_rotated")
    return secret


def remove_client(client: Client, *, actor: str = "cli") -> None:
    """Delete the client: its tokens, grants, pushed requests and trust records go with
    it (on_delete CASCADE) and stop working at once."""
    _reserved(client)
    with transaction.atomic():
        _audit_client(client, actor, "oauth.client_removed", name=client.name)
        client.delete()


def retire_trust(record: TrustedKey, *, actor: str = "cli") -> TrustedKey:
    """Stop accepting the record's key at once (a retired record is refused outright)."""
    if record.retired_at is None:
        with transaction.atomic():
            record.retired_at = timezone.now()
            record.save(update_fields=["retired_at"])
            _audit_trust(record, actor, "oauth.trust_retired")
    return record


def roll_over_trust(record: TrustedKey, *, kid: str, key_text: str, algorithms: list[str],
                    overlap_until: datetime, actor: str = "cli") -> TrustedKey:
    """The signer's next key: a new record for the same client, issuer, subject and
    scopes, valid from now, while the old key stays valid until `overlap_until` (the
    window in which the signer switches) and is refused after it."""
    now = timezone.now()
    if record.retired_at is not None:
        raise RegistrationError("this key is retired: add the new key as a new trust record")
    if overlap_until <= now:
        raise RegistrationError("the overlap must end in the future")
    if record.valid_until is not None and record.valid_until <= now:
        raise RegistrationError("this key's validity has already ended: add the new key as a new trust record")
    with transaction.atomic():
        fresh = add_trust(record.client, TrustSpec(
            issuer=record.issuer, subject=record.subject, kid=kid, key_text=key_text, algorithms=algorithms,
            scopes=list(record.scopes), valid_from=now), actor=actor)
        if record.valid_until is None or record.valid_until > overlap_until:
            record.valid_until = overlap_until
            record.save(update_fields=["valid_until"])
        _audit_trust(record, actor, "oauth.trust_rolled_over", fresh.kid, next_kid=fresh.kid,
                     accepted_until=rfc3339(record.valid_until))
    return fresh

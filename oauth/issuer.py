"""Where a tenant's authorization server lives: its issuer identifier and endpoints."""
from django.conf import settings
from django.http import Http404

from lib.prepared import Prepared
from tenants.models import Tenant

from . import signing_keys

ENDPOINTS = ("par", "authorize", "token", "jwks", "introspect", "revoke")


class NoAuthorizationServer(Http404):
    """An Http404 (callers outside the AS keep their 404), which the AS's own endpoints
    answer in JSON (`errors.json_errors`) like every other OAuth error."""


# Every back-channel request reads its tenant first: compiled once (lib/prepared.py).
_tenant = Prepared(lambda slug: Tenant.objects.filter(slug=slug)[:1], slug=str)
_signing_tenant = Prepared(lambda slug: Tenant.objects.filter(slug=slug).annotate(
    **signing_keys.active_kid_annotation())[:1], slug=str)


def runs_authorization_server(tenant: Tenant) -> bool:
    """eMSPs and OSDM providers do, and charging-station operators: their automation
    calls the operator REST API with its clients' tokens (scopes operator:read|write|admin,
    docs/api.md), and their stations get Bearer tokens (oauth/station_keys.py)."""
    return tenant.is_emsp or tenant.is_osdm_provider or tenant.operates_charging_stations


def authorization_server(slug: str, *, signs: bool = False) -> Tenant:
    """The tenant, if it runs an authorization server (`runs_authorization_server`).
    `signs`: the request will sign a token, so read the kid of the tenant's active key
    with it (`signing_keys.signer`)."""
    tenant = (_signing_tenant if signs else _tenant).first(slug=slug)
    if tenant is None or not runs_authorization_server(tenant):
        raise NoAuthorizationServer("No authorization server here")
    return tenant


def issuer(tenant: Tenant) -> str:
    """RFC 8414 issuer: https URL with a path, no query or fragment."""
    return f"{settings.PUBLIC_URL}/oauth/{tenant.slug}"


def endpoint(tenant: Tenant, name: str) -> str:
    assert name in ENDPOINTS, name
    return f"{issuer(tenant)}/{name}"


def resource_audience(tenant: Tenant) -> str:
    """The `aud` of the tenant's access tokens: its own APIs (PnC, OSDM, REST), which are
    the only resource servers that accept them."""
    return f"{settings.PUBLIC_URL}/api/v1/tenants/{tenant.slug}"

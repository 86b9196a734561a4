"""Public endpoints of a tenant's authorization server."""
from django.http import Http404, JsonResponse

from tenants.models import Tenant

from . import signing_keys


def authorization_server(slug: str) -> Tenant:
    """The tenant, if it runs an authorization server (eMSPs and OSDM providers do)."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None or not (tenant.is_emsp or tenant.is_osdm_provider):
        raise Http404("No authorization server here")
    return tenant


def jwks(request, tenant):
    t = authorization_server(tenant)
    signing_keys.active_key(t)  # a tenant publishes a key before it signs its first token
    response = JsonResponse(signing_keys.jwks(t))
    # Short caching: relying parties pick up a rotation within minutes.
    response["Cache-Control"] = "public, max-age=300"
    return response

from django.urls import path, re_path

from . import endpoints, views
from .errors import json_errors

urlpatterns = [
    path(".well-known/oauth-authorization-server/oauth/<slug:tenant>", json_errors(views.server_metadata),
         name="oauth-metadata"),
    path("oauth/<slug:tenant>/.well-known/openid-configuration", json_errors(views.server_metadata),
         name="oauth-openid-configuration"),
    path("oauth/<slug:tenant>/jwks", json_errors(views.jwks), name="oauth-jwks"),
    path("oauth/<slug:tenant>/par", json_errors(endpoints.par), name="oauth-par"),
    path("oauth/<slug:tenant>/authorize", json_errors(views.authorize), name="oauth-authorize"),
    path("oauth/<slug:tenant>/consent/<int:pk>", json_errors(views.consent), name="oauth-consent"),
    path("oauth/<slug:tenant>/token", json_errors(endpoints.token), name="oauth-token"),
    path("oauth/<slug:tenant>/introspect", json_errors(endpoints.introspect), name="oauth-introspect"),
    path("oauth/<slug:tenant>/revoke", json_errors(endpoints.revoke), name="oauth-revoke"),
    # Anything else under the AS's prefixes (a tenant name that is no slug, `demo%00`, an
    # unknown endpoint): the same JSON 404, never an HTML page.
    re_path(r"^(?:oauth/|\.well-known/oauth-authorization-server/oauth/)", json_errors(views.no_server)),
]

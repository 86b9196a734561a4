from django.urls import path

from . import endpoints, views

urlpatterns = [
    path(".well-known/oauth-authorization-server/oauth/<slug:tenant>", views.server_metadata,
         name="oauth-metadata"),
    path("oauth/<slug:tenant>/.well-known/openid-configuration", views.server_metadata,
         name="oauth-openid-configuration"),
    path("oauth/<slug:tenant>/jwks", views.jwks, name="oauth-jwks"),
    path("oauth/<slug:tenant>/par", endpoints.par, name="oauth-par"),
    path("oauth/<slug:tenant>/authorize", views.authorize, name="oauth-authorize"),
    path("oauth/<slug:tenant>/consent/<int:pk>", views.consent, name="oauth-consent"),
    path("oauth/<slug:tenant>/token", endpoints.token, name="oauth-token"),
    path("oauth/<slug:tenant>/introspect", endpoints.introspect, name="oauth-introspect"),
    path("oauth/<slug:tenant>/revoke", endpoints.revoke, name="oauth-revoke"),
]

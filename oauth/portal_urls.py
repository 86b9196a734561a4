"""The portal's OAuth pages, under /t/<tenant_slug>/oauth/ (portal/urls.py includes them).
Client ids are URL-safe by rule (`registration.CLIENT_ID`), so a `str` segment holds one."""
from django.urls import path

from . import client_pages, key_pages

urlpatterns = [
    path("clients/", client_pages.client_list, name="oauth-client-list"),
    path("clients/new", client_pages.client_new, name="oauth-client-new"),
    path("clients/<str:client_id>/", client_pages.client_detail, name="oauth-client-detail"),
    path("clients/<str:client_id>/rotate-secret", client_pages.rotate_secret, name="oauth-client-rotate-secret"),
    path("clients/<str:client_id>/remove", client_pages.remove, name="oauth-client-remove"),
    path("trust/", key_pages.trust_list, name="oauth-trust-list"),
    path("trust/new", key_pages.trust_new, name="oauth-trust-new"),
    path("trust/<int:pk>/rollover", key_pages.trust_rollover, name="oauth-trust-rollover"),
    path("trust/<int:pk>/retire", key_pages.trust_retire, name="oauth-trust-retire"),
    path("signing-keys/", key_pages.signing_key_list, name="oauth-signing-keys"),
    path("signing-keys/rotate", key_pages.rotate_signing_key, name="oauth-signing-key-rotate"),
]

"""The portal's Plug & Charge pages, under /t/<tenant_slug>/pnc/ (portal/urls.py includes
them). An EMAID is taken with or without hyphens; a CA is named by its key id."""
from django.urls import path

from . import authority_pages, portal_pages

urlpatterns = [
    path("contracts/", portal_pages.contract_list, name="pnc-contract-list"),
    path("contracts/<str:emaid_text>/", portal_pages.contract_detail, name="pnc-contract-detail"),
    path("contracts/<str:emaid_text>/revoke", portal_pages.contract_revoke, name="pnc-contract-revoke"),
    path("authorities/", authority_pages.authority_status, name="pnc-authorities"),
    path("authorities/init", authority_pages.initialise, name="pnc-ca-init"),
    path("authorities/import", authority_pages.import_upload, name="pnc-ca-import"),
    path("authorities/rollover", authority_pages.rollover, name="pnc-ca-rollover"),
    path("authorities/<str:key_id>/activate", authority_pages.activate, name="pnc-ca-activate"),
    path("authorities/<str:key_id>/retire", authority_pages.retire, name="pnc-ca-retire"),
]

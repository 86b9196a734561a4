"""The portal's Plug & Charge pages, under /t/<tenant_slug>/pnc/ (portal/urls.py includes
them). An EMAID is taken with or without hyphens."""
from django.urls import path

from . import portal_pages

urlpatterns = [
    path("contracts/", portal_pages.contract_list, name="pnc-contract-list"),
    path("contracts/<str:emaid_text>/", portal_pages.contract_detail, name="pnc-contract-detail"),
    path("contracts/<str:emaid_text>/revoke", portal_pages.contract_revoke, name="pnc-contract-revoke"),
    path("authorities/", portal_pages.authority_status, name="pnc-authorities"),
]

"""`/api/v1/tenants/<tenant>/pnc/…`: the eMSP REST API (pnc.api)."""
from django.urls import path

from . import api

urlpatterns = [
    path("tenants/<slug:tenant>/pnc/contracts/", api.ContractList.as_view(), name="api-pnc-contracts"),
    path("tenants/<slug:tenant>/pnc/contracts/<str:emaid>/", api.ContractDetail.as_view(), name="api-pnc-contract"),
    path("tenants/<slug:tenant>/pnc/contracts/<str:emaid>/revoke", api.ContractRevoke.as_view(),
         name="api-pnc-contract-revoke"),
    path("tenants/<slug:tenant>/pnc/contracts/<str:emaid>/certificates", api.ContractCertificates.as_view(),
         name="api-pnc-contract-certificates"),
    path("tenants/<slug:tenant>/pnc/certificates/", api.CertificateList.as_view(), name="api-pnc-certificates"),
    path("tenants/<slug:tenant>/pnc/certificates/<str:serial>/", api.CertificateDetail.as_view(),
         name="api-pnc-certificate"),
    path("tenants/<slug:tenant>/pnc/certificates/<str:serial>/chain", api.CertificateChain.as_view(),
         name="api-pnc-certificate-chain"),
    path("tenants/<slug:tenant>/pnc/cas/", api.AuthorityList.as_view(), name="api-pnc-cas"),
    path("tenants/<slug:tenant>/pnc/cas/<str:key_id>/", api.AuthorityDetail.as_view(), name="api-pnc-ca"),
    path("tenants/<slug:tenant>/pnc/cas/<str:key_id>/crl", api.AuthorityCrl.as_view(), name="api-pnc-ca-crl"),
]

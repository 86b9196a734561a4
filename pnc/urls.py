from django.urls import path, re_path

from . import pages, views

urlpatterns = [
    # The driver's own page (pnc.pages).
    path("my/", pages.my_page, name="pnc-my"),
    path("my/<slug:tenant>/contracts/<str:emaid_text>/revoke", pages.revoke_contract, name="pnc-my-revoke-contract"),
    path("my/<slug:tenant>/approvals/<int:pk>/withdraw", pages.withdraw_approval, name="pnc-my-withdraw-approval"),
    path("pnc/<slug:tenant>/csr", views.csr, name="pnc-csr"),
    path("pnc/<slug:tenant>/crl/<str:key_id>.crl", views.crl, name="pnc-crl"),
    path("pnc/<slug:tenant>/ocsp", views.ocsp_post, name="pnc-ocsp"),
    # RFC 6960 A.1: base64 may hold "/" (sent as is or as %2F), so the rest of the path.
    re_path(r"^pnc/(?P<tenant>[-a-zA-Z0-9_]+)/ocsp/(?P<encoded>.+)$", views.ocsp_get, name="pnc-ocsp-get"),
]

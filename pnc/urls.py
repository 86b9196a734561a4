from django.urls import path

from . import views

urlpatterns = [
    path("pnc/<slug:tenant>/csr", views.csr, name="pnc-csr"),
    path("pnc/<slug:tenant>/crl/<str:key_id>.crl", views.crl, name="pnc-crl"),
    path("pnc/<slug:tenant>/ocsp", views.not_yet, name="pnc-ocsp"),
]

from django.urls import path

from . import views

urlpatterns = [
    path("oauth/<slug:tenant>/jwks", views.jwks, name="oauth-jwks"),
]

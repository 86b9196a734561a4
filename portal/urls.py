from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from lib.api import not_found

from . import health, metrics, views

# A tenant's pages: every view behind `tenants.access.tenant_page`.
tenant_pages = [
    path("", views.dashboard, name="dashboard"),
    path("", include("csms.portal_urls")),
    path("oauth/", include("oauth.portal_urls")),
    path("pnc/", include("pnc.portal_urls")),
    path("", include("tenants.portal_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("t/<slug:tenant_slug>/", include(tenant_pages)),
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("metrics", metrics.metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("csms.urls")),
    path("api/v1/", include("osdm.urls")),
    path("api/v1/", include("pnc.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", not_found),  # an unknown API address is a problem+json 404 too
    path("", include("pnc.urls")),
    path("", include("oauth.urls")),
]

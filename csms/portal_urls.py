"""The portal's station pages, under /t/<tenant_slug>/ (portal/urls.py includes them)."""
from django.urls import path

from . import pages

urlpatterns = [
    path("stations/", pages.station_list, name="station-list"),
    path("stations/<str:identity>/", pages.station_detail, name="station-detail"),
    path("stations/<str:identity>/rotate", pages.rotate, name="station-rotate"),
    path("stations/<str:identity>/registration", pages.set_registration, name="station-registration"),
    path("stations/<str:identity>/reset", pages.reset, name="station-reset"),
    path("stations/<str:identity>/disconnect", pages.disconnect, name="station-disconnect"),
]

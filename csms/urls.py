from django.urls import re_path

from . import api

# Identities may contain "/" (sent as %2F): the patterns take everything up to the
# fixed suffix.
urlpatterns = [
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/$", api.StationList.as_view(),
            name="api-stations"),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/(?P<identity>.+)/rotations/$",
            api.StationRotations.as_view(), name="api-station-rotations"),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/(?P<identity>.+)/$",
            api.StationDetail.as_view(), name="api-station"),
]

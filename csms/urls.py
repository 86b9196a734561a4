from django.urls import re_path

from . import api, station_keys_api

# Identities may contain "/" (sent as %2F): the patterns take everything up to the
# fixed suffix.
urlpatterns = [
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/$", api.StationList.as_view(),
            name="api-stations"),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/(?P<identity>.+)/rotations/$",
            api.StationRotations.as_view(), name="api-station-rotations"),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/(?P<identity>.+)/auth/$",
            api.StationMethods.as_view(), name="api-station-auth"),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/(?P<identity>.+)/tokens/$",
            api.StationTokens.as_view(), name="api-station-tokens"),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/(?P<identity>.+)/tokens/(?P<token_id>[0-9a-f]{12})/$",
            api.StationTokenRevocation.as_view(), name="api-station-token"),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/(?P<identity>.+)/keys/$",
            station_keys_api.StationKeys.as_view(), name="api-station-keys"),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/(?P<identity>.+)/keys/(?P<kid>[A-Za-z0-9._~-]{1,256})/$",
            station_keys_api.StationKeyRetirement.as_view(), name="api-station-key"),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/auth-status/$", api.AuthStatus.as_view(), name="api-auth-status"),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/(?P<identity>.+)/$",
            api.StationDetail.as_view(), name="api-station"),
]

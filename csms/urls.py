from django.urls import re_path

from . import (
    api,
    api_auth,
    api_auth_events,
    api_campaigns,
    api_connections,
    api_history,
    api_imports,
    api_onboarding,
    station_keys_api,
)

TENANT = r"^tenants/(?P<tenant>[a-z0-9-]+)/"
STATION = TENANT + r"stations/(?P<identity>.+)/"
CAMPAIGN = r"campaigns/(?P<campaign_id>[0-9]{1,18})"


def at(prefix: str, *routes) -> list:
    """(suffix, view class, name) routes under `prefix`."""
    return [re_path(prefix + suffix, view.as_view(), name=name) for suffix, view, name in routes]


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
    *at(STATION, ("logins/$", api_auth.Logins, "api-station-logins"),
        ("logins/(?P<login>[^/]{1,255})/$", api_auth.Login, "api-station-login"),
        ("totp/$", api_auth.Totp, "api-station-totp"),
        ("auth-events/$", api_auth_events.StationAuthEvents, "api-station-auth-events"),
        ("connections/$", api_connections.StationConnections, "api-station-connections")),
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/stations/(?P<identity>.+)/$",
            api.StationDetail.as_view(), name="api-station"),
    # --- the operator API (docs/api.md): tenant-wide lists and policy ---------------------
    *at(TENANT, ("station-imports/$", api_imports.StationImports, "api-station-imports"),
        ("rotations/$", api_history.Rotations, "api-rotations"),
        ("audit/$", api_history.AuditLog, "api-audit"),
        (r"audit/export\.csv$", api_history.AuditExport, "api-audit-csv"),
        ("campaigns/$", api_campaigns.CampaignList, "api-campaigns"),
        (f"{CAMPAIGN}/$", api_campaigns.CampaignDetail, "api-campaign"),
        (f"{CAMPAIGN}/members/$", api_campaigns.CampaignMembers, "api-campaign-members"),
        (f"{CAMPAIGN}/pause$", api_campaigns.CampaignPause, "api-campaign-pause"),
        (f"{CAMPAIGN}/resume$", api_campaigns.CampaignResume, "api-campaign-resume"),
        (f"{CAMPAIGN}/abort$", api_campaigns.CampaignAbort, "api-campaign-abort"),
        ("onboarding/$", api_onboarding.OnboardingHold, "api-onboarding"),
        ("onboarding/release$", api_onboarding.OnboardingRelease, "api-onboarding-release"),
        ("onboarding/stations/$", api_onboarding.Waiting, "api-onboarding-stations"),
        ("onboarding/stations/(?P<identity>.+)/approve$", api_onboarding.Approve, "api-onboarding-approve"),
        ("onboarding/stations/(?P<identity>.+)/reject$", api_onboarding.Reject, "api-onboarding-reject"),
        ("auth/groups/$", api_auth.Groups, "api-auth-groups"),
        ("auth/groups/(?P<name>[A-Za-z0-9._-]{1,64})/$", api_auth.Group, "api-auth-group"),
        ("auth/default/$", api_auth.DefaultMethods, "api-auth-default")),
]

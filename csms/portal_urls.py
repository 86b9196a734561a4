"""The portal's CSMS pages, under /t/<tenant_slug>/ (portal/urls.py includes them).

Identities are `path` segments: an OCPP 1.6 identity may hold '/' (sent percent-encoded
by the station), and a `str` route could not even build its link (a 500 on any list
showing one). Each action's fixed suffix keeps the routes apart, and none is the end of
another; what an action acts on within the station (a token, a key id) travels in its
form, never as one more path segment an identity could swallow."""
from django.urls import path

from . import (
    audit_pages,
    campaign_pages,
    onboarding_pages,
    pages,
    station_auth_pages,
    station_credential_pages,
    station_register_pages,
)

urlpatterns = [
    path("stations/", pages.station_list, name="station-list"),
    path("stations/register", station_register_pages.register, name="station-register"),
    path("stations/import", station_register_pages.import_csv, name="station-import"),
    path("station-imports/<slug:job_id>", station_register_pages.import_job, name="station-import-job"),
    path("stations/<path:identity>/", pages.station_detail, name="station-detail"),
    path("stations/<path:identity>/rotate", pages.rotate, name="station-rotate"),
    path("stations/<path:identity>/registration", pages.set_registration, name="station-registration"),
    path("stations/<path:identity>/reset", pages.reset, name="station-reset"),
    path("stations/<path:identity>/disconnect", pages.disconnect, name="station-disconnect"),
    path("stations/<path:identity>/auth", station_auth_pages.station_auth, name="station-auth"),
    path("stations/<path:identity>/methods", station_auth_pages.set_methods, name="station-methods"),
    path("stations/<path:identity>/token-issue", station_credential_pages.issue_token, name="station-token-issue"),
    path("stations/<path:identity>/token-revoke", station_credential_pages.revoke_token,
         name="station-token-revoke"),
    path("stations/<path:identity>/totp-issue", station_credential_pages.issue_totp, name="station-totp-issue"),
    path("stations/<path:identity>/totp-revoke", station_credential_pages.revoke_totp, name="station-totp-revoke"),
    path("stations/<path:identity>/key-add", station_credential_pages.add_key, name="station-key-add"),
    path("stations/<path:identity>/key-retire", station_credential_pages.retire_key, name="station-key-retire"),
    path("onboarding/", onboarding_pages.queue, name="onboarding"),
    path("onboarding/release", onboarding_pages.release, name="onboarding-release"),
    path("onboarding/stations/<path:identity>/approve", onboarding_pages.approve, name="onboarding-approve"),
    path("onboarding/stations/<path:identity>/reject", onboarding_pages.reject, name="onboarding-reject"),
    path("campaigns/", campaign_pages.campaign_list, name="campaign-list"),
    path("campaigns/new", campaign_pages.campaign_new, name="campaign-new"),
    path("campaigns/<int:campaign_id>/", campaign_pages.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:campaign_id>/pause", campaign_pages.pause, name="campaign-pause"),
    path("campaigns/<int:campaign_id>/resume", campaign_pages.resume, name="campaign-resume"),
    path("campaigns/<int:campaign_id>/abort", campaign_pages.abort, name="campaign-abort"),
    path("audit/", audit_pages.audit_log, name="audit-log"),
    path("audit/export.csv", audit_pages.audit_export, name="audit-export"),
]

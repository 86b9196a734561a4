from django.apps import AppConfig


class OauthConfig(AppConfig):
    name = "oauth"
    verbose_name = "OAuth 2 authorization server"

    def ready(self):
        # The CSMS checks stations' Bearer tokens through lib.station_authority, which
        # it may import; this app fills it (csms and oauth do not import each other).
        from tenants import audit

        from . import audit_actions, station_keys

        station_keys.register()
        audit.describe_actions(audit_actions.DESCRIPTIONS)

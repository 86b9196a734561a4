from django.apps import AppConfig


class CsmsConfig(AppConfig):
    name = "csms"
    verbose_name = "Charging station management"

    def ready(self):
        # rotation_hooks registers credential rotation's call purposes, housekeeping and
        # boot after-hook (csms/lifecycle.py); campaigns follow settled changes.
        from django.db.models.signals import post_delete, post_save

        from lib import station_authority
        from tenants import audit

        from . import (  # noqa: F401
            audit_actions,
            audit_store,
            rotation_hooks,
            signals,
            station_bearer,
            station_methods,
            tasks,
        )
        from .models import StationGroup

        # Every app's audit events are stored here (tenants.audit explains why).
        audit.recorded.connect(audit_store.store, dispatch_uid="csms.audit_store")
        audit.describe_actions(audit_actions.DESCRIPTIONS)
        # The authorization server tells of revoked station tokens; their connections close.
        station_authority.on_tokens_revoked(station_bearer.close_revoked)
        signals.change_settled.connect(tasks.advance_campaign_of, dispatch_uid="csms.campaigns")
        for signal in (post_save, post_delete):
            signal.connect(station_methods.group_saved_or_deleted, sender=StationGroup,
                           dispatch_uid=f"csms.station_groups.{signal is post_save}")

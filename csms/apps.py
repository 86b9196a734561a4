from django.apps import AppConfig


class CsmsConfig(AppConfig):
    name = "csms"
    verbose_name = "Charging station management"

    def ready(self):
        # rotation_hooks registers credential rotation's call purposes, housekeeping and
        # boot after-hook (csms/lifecycle.py); campaigns follow settled changes.
        from . import rotation_hooks, signals, tasks  # noqa: F401

        signals.change_settled.connect(tasks.advance_campaign_of, dispatch_uid="csms.campaigns")

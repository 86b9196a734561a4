from django.apps import AppConfig


class CsmsConfig(AppConfig):
    name = "csms"
    verbose_name = "Charging station management"

    def ready(self):
        # The call purposes and housekeeping of credential rotation (csms/lifecycle.py).
        from . import rotation_hooks  # noqa: F401

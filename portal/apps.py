from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Chargegate portal"

    def ready(self):
        from . import db_connections
        from . import logging as log_safety

        log_safety.install()
        db_connections.install()

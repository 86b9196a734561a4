from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self):
        # The ground floor: every app's text lookups follow the same rule.
        from . import text_lookups

        text_lookups.install()

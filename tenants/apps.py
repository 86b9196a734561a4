from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self):
        # The ground floor: every app's text lookups follow the same rule.
        from . import audit, audit_actions, text_lookups

        text_lookups.install()
        audit.describe_actions(audit_actions.DESCRIPTIONS)

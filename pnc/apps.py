from django.apps import AppConfig


class PncConfig(AppConfig):
    name = "pnc"
    verbose_name = "Plug & Charge"

    def ready(self):
        """Register pnc's authorization details types with the authorization server.

        The AS must not import pnc (imports point down, DESIGN.md), so pnc tells it
        which RAR types it understands. Registering twice is harmless.
        """
        from oauth import rar
        from pnc.authorization_details import PNC_CONTRACT_REQUEST

        rar.register(PNC_CONTRACT_REQUEST)

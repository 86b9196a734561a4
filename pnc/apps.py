from django.apps import AppConfig


class PncConfig(AppConfig):
    name = "pnc"
    verbose_name = "Plug & Charge"

    def ready(self):
        """Register pnc's authorization details types with the authorization server.

        The AS must not import pnc (imports point down, DESIGN.md), so pnc tells it
        which RAR types it understands, and listens for the approvals it sends.
        Registering twice is harmless.
        """
        from oauth import rar, signals
        from pnc.audit_actions import DESCRIPTIONS
        from pnc.authorization_details import PNC_CONTRACT_REQUEST
        from pnc.contracts import on_authorization_approved
        from pnc.revocation import on_approval_withdrawn
        from tenants import audit

        rar.register(PNC_CONTRACT_REQUEST)
        audit.describe_actions(DESCRIPTIONS)
        # An approved pnc_contract_request becomes a contract (pnc.contracts).
        signals.authorization_approved.connect(on_authorization_approved, dispatch_uid="pnc-contract")
        # A withdrawn approval takes its contract and certificate with it (pnc.revocation).
        signals.approval_withdrawn.connect(on_approval_withdrawn, dispatch_uid="pnc-contract-withdrawn")

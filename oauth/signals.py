"""What the authorization server tells the apps above it, so they act on its decisions
without the AS importing them (imports point down, DESIGN.md)."""
from django.dispatch import Signal

# Sent inside the transaction that records a driver's approval on the consent screen,
# with `grant` (the new authorization code's row: tenant, user, client, scope and the
# approved authorization details). A receiver that cannot honour the approval raises
# ApprovalRefused; the approval is then undone and the client told why.
authorization_approved = Signal()


class ApprovalRefused(Exception):
    """The approval cannot take effect; the client gets `error` (RFC 6749 §4.1.2.1) and
    `description`, which must be safe to show (no secrets, no personal data)."""

    def __init__(self, description: str, error: str = "server_error"):
        super().__init__(description)
        self.error = error
        self.description = description

# Sent inside the transaction in which a user withdraws an approval (oauth.approvals),
# after its tokens are revoked, with `grant` and `actor`: apps end what the approval
# brought about (pnc revokes its contract and certificate).
approval_withdrawn = Signal()

"""What each scope lets a client do, in words a driver reads on the consent screen.

A scope is a code (`ccsr`); the person approving it needs a sentence. One table for
every page that shows scopes (consent, the driver's page). A scope without words here
is shown as its code with a note that this server does not explain it: better an honest
"unexplained" than a made-up meaning. Pure.
"""
from dataclasses import dataclass

WORDS = {
    "ccsr": "Ask for a Plug & Charge contract certificate for your vehicle, so it can charge "
            "and be billed under your contract without a card or app at the charger",
    "uic_osdm": "Book and sell rail tickets on your behalf through the OSDM interface",
    "emsp:read": "See the contracts, certificates and certificate authorities of this provider",
    "emsp:write": "Revoke contracts and their certificates",
    "operator:read": "See this operator's stations, key changes, campaigns, onboarding and audit log",
    "operator:write": "Register, change and remove stations, rotate their keys and run campaigns",
    "operator:admin": "Set which authentication methods stations may use",
    "offers": "Search for rail offers on your behalf (OSDM)",
    "bookings": "Make, change and cancel rail bookings on your behalf (OSDM)",
    "openid": "Confirm who you are to the app",
    "offline_access": "Keep access while you are not using the app (a refresh token)",
}


@dataclass(frozen=True)
class Scope:
    code: str
    words: str | None  # None: this server has no explanation for it


def described(scopes) -> list[Scope]:
    """Each scope with its words, in the order asked."""
    return [Scope(code, WORDS.get(code)) for code in scopes]

"""The 401 an authentication class raises when it recognised the caller's scheme and
refused the credentials. Its own module, importing nothing of `rest_framework.views`:
authentication classes named in the settings raise it, and DRF imports those while
`rest_framework.views` itself is being imported (oauth/token_authentication.py)."""
from rest_framework import exceptions


class ChallengedAuthenticationFailed(exceptions.AuthenticationFailed):
    """401 from the authentication class that recognised the caller's scheme: the answer
    carries that class's own challenge (a failed Bearer token gets `Bearer …,
    error="invalid_token"`, RFC 6750 §3.1), not the first configured class's, which DRF
    would send (`Basic realm="api"` for a bad token)."""

    def __init__(self, detail: str, challenge: str):
        super().__init__(detail)
        self.challenge = challenge

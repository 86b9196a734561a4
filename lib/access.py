"""What an API learns about a caller that presented an access token, without knowing
which app checked it.

The authorization server (`oauth`) verifies tokens; the resource apps (`csms`, `pnc`)
decide what a token may do. `csms` may not import `oauth` (sibling apps), so the token
the authentication class puts in `request.auth` implements this small interface, and a
resource app reads its scopes and client through it. Pure: no Django.
"""
from abc import ABC, abstractmethod


class GrantedToken(ABC):
    """A verified access token, as `request.auth`."""

    @property
    @abstractmethod
    def scopes(self) -> frozenset[str]:
        """The scopes the token carries."""

    @property
    @abstractmethod
    def client_id(self) -> str:
        """The client the token was issued to."""

    @property
    @abstractmethod
    def for_user(self) -> bool:
        """Issued on a person's behalf (the code flow), not to the client for itself."""

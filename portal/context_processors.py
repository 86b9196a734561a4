"""Template context for the portal shell."""
from tenants.scoping import tenants_of


def navigation(request) -> dict:
    """Whether to show the portal's pages: not to drivers, whose memberships only let
    them approve what apps and EVs ask for."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"shows_portal": False}
    return {"shows_portal": user.is_staff or tenants_of(user).exists()}

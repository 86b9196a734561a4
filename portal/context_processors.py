"""Template context for the portal shell."""
from oauth.issuer import runs_authorization_server
from tenants.scoping import tenants_of

SWITCHER_SIZE = 50  # tenants listed in the switcher; a superuser with more picks at `/`


def navigation(request) -> dict:
    """Whether to show the portal's pages (not to drivers, whose memberships only let
    them approve what apps and EVs ask for), the tenant being looked at and the others
    the user may switch to."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"shows_portal": False}
    tenants = list(tenants_of(user).only("slug", "name")[:SWITCHER_SIZE + 1])
    access = getattr(request, "access", None)
    return {"shows_portal": user.is_staff or bool(tenants), "access": access,
            "current_tenant": access.tenant if access else None,
            "can_operate": bool(access and access.allows("operator")),
            "can_manage": bool(access and access.allows("admin")),
            # The sections only some tenants have (their pages are 404 elsewhere).
            "has_oauth": bool(access and runs_authorization_server(access.tenant)),
            "has_pnc": bool(access and access.tenant.is_emsp),
            "switch_to": [t for t in tenants[:SWITCHER_SIZE] if not access or t.pk != access.tenant.pk],
            "more_tenants": len(tenants) > SWITCHER_SIZE}

"""Who may open a tenant's portal pages: the one gate every page and action of the
portal passes (`tenant_page`), wherever the page lives.

A user who is not on the tenant's staff gets 404, the answer an unknown tenant gets, so
a page never tells whether a tenant (or one of its objects) exists; a member whose role
is too low for the page gets 403. Drivers are not staff: they have their own page.
"""
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import ROLE_RANK, STAFF_ROLES, Membership, Role, Tenant

SESSION_KEY = "portal_tenant"  # the tenant last opened, where `/` takes the user back


@dataclass(frozen=True)
class Access:
    tenant: Tenant
    role: Role

    def allows(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[Role(role)]


def access_for(user, slug: str) -> Access:
    """The user's standing in the tenant named `slug`; Http404 unless they are its staff
    (a superuser is an administrator everywhere)."""
    if user.is_superuser:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise Http404("No such tenant")
        return Access(tenant, Role.ADMIN)
    membership = (Membership.objects.select_related("tenant")
                  .filter(user=user, tenant__slug=slug, role__in=STAFF_ROLES).first())
    if membership is None:
        raise Http404("No such tenant")
    return Access(membership.tenant, Role(membership.role))


def tenant_page(role: str = Role.VIEWER, applies=lambda tenant: True):
    """Decorate a view taking `(request, tenant, …)` and routed with `<tenant_slug>`:
    sign-in required, 404 for strangers, 403 below `role`. `request.access` tells the
    template what the user may do. A section that exists only for some tenants (OAuth,
    Plug & Charge) names them with `applies(tenant)`; for the others it is 404, like an
    address that does not exist, whatever the user's role."""
    def decorate(view):
        @wraps(view)
        def gated(request, tenant_slug: str, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            access = access_for(request.user, tenant_slug)
            if not applies(access.tenant):
                raise Http404("No such page for this tenant")
            if not access.allows(role):
                raise PermissionDenied
            request.access = access
            request.session[SESSION_KEY] = access.tenant.slug
            return view(request, access.tenant, *args, **kwargs)
        return gated
    return decorate

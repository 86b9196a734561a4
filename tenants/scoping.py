"""Helpers that resolve a tenant and a user's right to act for it."""
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import STAFF_ROLES, Membership, Role, Tenant


def tenant_by_slug(slug: str) -> Tenant:
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise Http404("No such tenant") from None


def tenants_of(user):
    """The tenants whose portal a user may see (all of them for a superuser); a driver's
    membership does not count."""
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user, memberships__role__in=STAFF_ROLES)


def is_member(user, tenant_id: int) -> bool:
    """Whether the user belongs to the tenant in any role (a driver included)."""
    return Membership.objects.filter(user=user, tenant_id=tenant_id).exists()


def require_role(user, tenant: Tenant, role: str = Role.VIEWER) -> Membership | None:
    """Raise PermissionDenied unless `user` holds at least `role` in `tenant`."""
    if user.is_superuser:
        return None
    membership = Membership.objects.filter(user=user, tenant=tenant).first()
    if membership is None or not membership.allows(role):
        raise PermissionDenied
    return membership

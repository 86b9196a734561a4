"""The portal's People page: the tenant's staff and drivers with their roles, and, for an
administrator, giving someone a staff role or taking a staff member out. Changes go
through `tenants.people`, as `manage.py user` does."""
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from .access import tenant_page
from .audit import actor_of
from .confirmation import ask_first
from .models import ROLE_RANK, STAFF_ROLES, Membership, Role
from .people import PeopleError, add_member, remove_member

PAGE_SIZE = 50


def members(tenant):
    return Membership.objects.filter(tenant=tenant).select_related("user")


@tenant_page()
def people_list(request, tenant):
    return _page(request, tenant)


def _page(request, tenant, status=200, error="", values=None):
    role = request.GET.get("role", "")
    shown = members(tenant).order_by("user__username", "pk")
    if role in Role.values:
        shown = shown.filter(role=role)
    page = Paginator(shown, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "tenants/people.html", {
        "tenant": tenant, "page": page, "role": role, "roles": Role.choices, "query": f"role={role}" if role else "",
        "staff_roles": [(r.value, r.label) for r in STAFF_ROLES], "error": error, "values": values or {}},
        status=status)


@require_POST
@tenant_page(Role.ADMIN)
def people_add(request, tenant):
    """Give a user (an existing one, or a new one with a password) a staff role. Drivers
    sign up through their eMSP's app, not here."""
    username, role = request.POST.get("username", "").strip(), request.POST.get("role", "")
    values = {"username": username, "role": role, "email": request.POST.get("email", "")}
    if role not in {r.value for r in STAFF_ROLES}:
        return _refused(request, tenant, "choose viewer, operator or administrator", values)
    # A member already here: changing one's own role is taking oneself out of it (the last
    # administrator would leave the tenant with none, as removing oneself would), and
    # lowering someone's role takes away what they may do, as taking them out does.
    current = members(tenant).filter(user__username=username).first()
    if current is not None and current.role != role:
        if current.user_id == request.user.pk:
            return _refused(request, tenant, "You cannot change your own role: another administrator can.", values)
        if (current.role in STAFF_ROLES and ROLE_RANK[Role(role)] < ROLE_RANK[Role(current.role)]
                and not request.POST.get("password")):
            asked = ask_first(
                request, tenant, f"Make {username} {Role(role).label.lower()} of {tenant.name}?",
                f"{username} is {Role(current.role).label.lower()} now, and loses what that role may do.",
                action_url=reverse("people-add", args=[tenant.slug]), cancel_url=reverse("people", args=[tenant.slug]),
                title=username)
            if asked:
                return asked
    try:
        _, created = add_member(tenant, username, role, email=values["email"].strip(),
                                password=request.POST.get("password") or None, actor=actor_of(request))
    except PeopleError as exc:
        return _refused(request, tenant, str(exc), values)
    messages.success(request, f"{username} is {Role(role).label.lower()} of {tenant.name}"
                     + (" (a new account)." if created else "."))
    return redirect(reverse("people", args=[tenant.slug]))


def _refused(request, tenant, error: str, values: dict):
    return _page(request, tenant, status=400, error=error, values=values)


@require_POST
@tenant_page(Role.ADMIN)
def people_remove(request, tenant, membership_id):
    membership = get_object_or_404(members(tenant).filter(role__in=STAFF_ROLES), pk=membership_id)
    name = membership.user.get_username()
    if membership.user_id == request.user.pk:
        messages.error(request, "You cannot take yourself out: another administrator can.")
        return redirect(reverse("people", args=[tenant.slug]))
    asked = ask_first(request, tenant, f"Take {name} out of {tenant.name}?",
                      f"{name} can no longer open this tenant's pages. The account stays (it may belong to other "
                      "tenants).", action_url=reverse("people-remove", args=[tenant.slug, membership.pk]),
                      cancel_url=reverse("people", args=[tenant.slug]), title=name)
    if asked:
        return asked
    remove_member(membership, actor=actor_of(request))
    messages.success(request, f"{name} is no longer on the staff of {tenant.name}.")
    return redirect(reverse("people", args=[tenant.slug]))

"""The portal shell: where `/` leads, the tenant chooser and the dashboard. Feature
pages live in their apps (csms/pages.py) behind the same gate, `tenants.access`."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from csms import posture
from tenants.access import SESSION_KEY, tenant_page
from tenants.scoping import tenants_of


@login_required
def home(request):
    """Straight to the user's tenant (the one they last opened, or their only one), the
    chooser for people in several, the driver's own page for drivers."""
    tenants = tenants_of(request.user)
    last = None if request.GET.get("choose") else request.session.get(SESSION_KEY)
    if last and tenants.filter(slug=last).exists():
        return redirect("dashboard", tenant_slug=last)
    first_two = list(tenants[:2])
    if len(first_two) == 1:
        return redirect("dashboard", tenant_slug=first_two[0].slug)
    if not first_two and not request.user.is_staff:
        return redirect("pnc-my")  # a driver: their own page, not a fleet
    return render(request, "portal/choose_tenant.html", {"tenants": tenants})


@tenant_page()
def dashboard(request, tenant):
    context = {"tenant": tenant, **posture.shared_summary(tenant)}
    if request.htmx and request.htmx.target == "dashboard-live":
        return render(request, "portal/_dashboard_live.html", context)
    return render(request, "portal/dashboard.html", context)

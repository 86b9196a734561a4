"""The portal shell: dashboard and navigation. Feature pages live in their apps."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from csms.models import Station
from tenants.scoping import tenants_of


@login_required
def dashboard(request):
    tenants = list(tenants_of(request.user))
    if not (tenants or request.user.is_staff):
        return redirect("pnc-my")  # a driver: their own page, not the fleet
    stations = (Station.objects.filter(tenant__in=tenants).select_related("tenant")
                .order_by("tenant__slug", "identity"))
    return render(request, "portal/dashboard.html", {
        "tenants": tenants,
        "stations": stations,
        "connected": sum(1 for s in stations if s.connected),
    })

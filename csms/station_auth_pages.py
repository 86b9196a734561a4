"""A station's authentication page in the portal: the methods it may use and which list
they come from (its own, its group's, the tenant's default, the built-in one), the
method it last used, its tokens, TOTP secret and public keys, and the form that sets
its own methods. The credential actions are in csms/station_credential_pages.py.

Every change goes through the service the CLI and the REST API call
(`station_methods.set_station_methods`), checked by the REST API's own serializer
(`api.MethodsRequestSerializer`), so a page can do nothing their rules forbid and says
what they refuse in their words."""
import copy
from datetime import datetime

from django.contrib import messages
from django.shortcuts import render

from tenants.access import tenant_page

from . import auth_audit, method_rules, station_bearer, station_methods
from .api import MethodsRequestSerializer
from .auth import policy
from .auth.station_auth import SCHEMES
from .models import StationToken, StationTotp
from .pages import confirmed, flat_errors, station_action, station_of

RECENT_DECISIONS = 20  # the page's short list; the REST API's auth-events/ pages through all


def known_methods() -> list[str]:
    return [name.lower() for name in SCHEMES.names()]


@tenant_page()
def station_auth(request, tenant, identity):
    return auth_page(request, station_of(tenant, identity))


def auth_page(request, station, *, errors=None, values=None, status=200, lockout=False):
    """The page, also as the answer to a form it refused (`errors` by field, the form's
    `values` kept, a 400 or 409 `status`)."""
    context = {"tenant": station.tenant, "station": station, "errors": errors or {}, "values": values or {},
               "lockout": lockout, **auth_facts(station)}
    chosen = (values or {}).get("methods") or context["methods"]["own_methods"] or context["methods"]["methods"]
    context["slots"] = [(n + 1, chosen[n] if n < len(chosen) else "") for n in range(len(context["known_methods"]))]
    return render(request, "csms/station_auth.html", context, status=status)


def auth_facts(station) -> dict:
    rules = method_rules.current_rules(station.tenant)
    last_token = auth_audit.recent(station.tenant, station=station, outcome="accepted", method="token", limit=1)
    return {"methods": station_methods.describe(station), "levels": inherited_lists(station, rules),
            "known_methods": known_methods(),
            "tokens": StationToken.objects.for_tenant(station.tenant).filter(station=station),
            "last_token_connection": last_token[0].at if last_token else None,
            "totp": StationTotp.objects.for_tenant(station.tenant).filter(station=station,
                                                                          revoked_at__isnull=True).first(),
            "decisions": auth_audit.recent(station.tenant, station=station, limit=RECENT_DECISIONS),
            **public_keys(station)}


def inherited_lists(station, rules: policy.Rules) -> list[dict]:
    """Every list the station's methods may come from, in the order `policy.resolve`
    tries them, and the one that applies (the first that says something wins whole)."""
    group = policy.group_of(station, rules)
    source = policy.resolve(station, rules).source
    lists = [("station", "its own list", station.auth_methods),
             ("group", f"its group, {group.name}" if group else "its group (no group matches it)",
              group.methods if group else None),
             ("tenant", "the tenant's default", rules.default),
             ("built-in", "built in", policy.DEFAULT_METHODS)]
    return [{"label": label, "methods": list(methods or ()), "applies": name == source}
            for name, label, methods in lists]


def public_keys(station) -> dict:
    """The station's Bearer keys, their times readable by the `when` filter."""
    try:
        rows = station_bearer.keys_of(station)
    except station_bearer.NoAuthorizationServer as exc:
        return {"keys": [], "keys_unavailable": str(exc)}
    for row in rows:
        row["created"] = datetime.fromisoformat(row["created_at"])
        row["retired"] = datetime.fromisoformat(row["retired_at"]) if row["retired_at"] else None
    return {"keys": rows, "keys_unavailable": ""}


def actor(request) -> str:
    return request.user.get_username()


@station_action("station-methods", back="station-auth")
def set_methods(request, station):
    """The station's own list, or none (inherit). A change that takes away the method
    its live connection proved closes that connection (downgrade protection), and one
    that strands stations is refused unless forced: both ask first."""
    inherit = request.POST.get("inherit") == "yes"
    picked = [m for m in request.POST.getlist("methods") if m]
    body = MethodsRequestSerializer(data={"methods": None if inherit else picked,
                                          "force": request.POST.get("force") == "yes"})
    if not body.is_valid():
        return auth_page(request, station, errors=flat_errors(body.errors), values={"methods": picked}, status=400)
    methods, force = body.validated_data["methods"], body.validated_data["force"]
    asked = ask_before_downgrade(request, station, methods) or (force and confirmed(
        request, station, "station-methods", "Apply the methods of {station.identity} anyway?",
        "Some stations are left with no method they hold a credential for: they cannot connect until "
        "they get one.", back="station-auth"))
    if asked:
        return asked
    try:
        station_methods.set_station_methods(station, methods, force=force)
    except station_methods.LockOut as exc:
        return auth_page(request, station, errors={"methods": [str(exc).replace("or force it", "or apply it anyway")]},
                         values={"methods": picked}, status=409, lockout=True)
    resolved = station_methods.resolve(station)
    messages.success(request, f"{'Inheriting' if methods is None else 'Set'}: {', '.join(resolved.methods)} "
                              f"(from {resolved.source}).")
    return None


def ask_before_downgrade(request, station, methods):
    """The confirmation page when the new list leaves out the method the station's live
    connection proved (that connection is closed), else None."""
    after = copy.copy(station)
    after.auth_methods = methods
    allowed = policy.allowed_methods(after, method_rules.current_rules(station.tenant))
    if not station.connected or not station.last_auth_method or station.last_auth_method in allowed:
        return None
    return confirmed(request, station, "station-methods", "Stop {station.identity} using "
                     f"{station.last_auth_method}?",
                     f"Its connection, opened with {station.last_auth_method}, is closed now; it has to "
                     f"reconnect with one of {', '.join(allowed)}.", back="station-auth")

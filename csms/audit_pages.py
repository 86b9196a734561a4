"""The audit log in the portal: the REST API's filters (`api_history.AuditFilter`:
action, action prefix, station, actor, time range), newest first, and the same CSV
export the API streams (`api_history.audit_csv`: RFC 3339 times, formula-safe cells).
Every app's events are here (`tenants.audit.record`): stations, OAuth, people, Plug &
Charge; the action menu offers every action an app described, and each row says in words
what happened (`tenants.audit.describe`).

Pages are keyset pages ("older than this event"), not numbered ones: the log only grows,
and a numbered page would count every row of it and read past every skipped one, where
this reads one indexed page of rows whatever the log's length."""
from django.db.models import Q
from django.shortcuts import render

from tenants import audit
from tenants.access import tenant_page

from .api_history import AuditFilter, audit_csv
from .models import AuditEvent

PAGE_SIZE = 50


def events_of(tenant):
    return AuditEvent.objects.for_tenant(tenant).select_related("station").order_by("-at", "-id")


@tenant_page()
def audit_log(request, tenant):
    found = AuditFilter(request.GET, queryset=events_of(tenant))
    events = found.qs if found.is_valid() else AuditEvent.objects.none()
    older_than = _event(tenant, request.GET.get("older_than"))
    if older_than is not None:
        events = events.filter(Q(at__lt=older_than.at) | Q(at=older_than.at, id__lt=older_than.id))
    rows = list(events[:PAGE_SIZE + 1])
    for row in rows:
        row.described = audit.describe(row.action, row.outcome, row.detail)
    query = request.GET.copy()
    query.pop("older_than", None)
    return render(request, "csms/audit_log.html", {
        "tenant": tenant, "filter": found, "events": rows[:PAGE_SIZE], "values": request.GET,
        "older": rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None,
        "paged": older_than is not None, "query": query.urlencode(), "actions": _action_menu(request.GET.get("action", ""))})


def _action_menu(chosen: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The described actions grouped by their prefix (station., oauth., people., …); an
    action asked for in the address that no app describes stays chosen, as itself."""
    known = audit.known_actions()
    if chosen and chosen not in dict(known):
        known.append((chosen, "as asked"))
    groups: dict[str, list[tuple[str, str]]] = {}
    for action, words in known:
        groups.setdefault(action.split(".", 1)[0], []).append((action, words))
    return sorted(groups.items())


def _event(tenant, pk: str | None):
    """The event a page starts after; only the tenant's own (another's id is ignored)."""
    if not pk or not pk.isdigit() or len(pk) > 18:
        return None
    return AuditEvent.objects.for_tenant(tenant).filter(pk=int(pk)).only("at", "id").first()


@tenant_page()
def audit_export(request, tenant):
    found = AuditFilter(request.GET, queryset=events_of(tenant))
    if not found.is_valid():
        return render(request, "csms/audit_log.html", {
            "tenant": tenant, "filter": found, "events": [], "values": request.GET, "query": "",
            "actions": _action_menu(request.GET.get("action", ""))}, status=400)
    response = audit_csv(found.qs, tenant.slug)
    response["Cache-Control"] = "no-store"  # who did what: not for shared caches or the browser's
    return response

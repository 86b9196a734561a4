"""Every station handshake's authentication decision as an audit event
(`AuditEvent`, action `station.auth`): method presented, outcome, reason, client address
— never a credential (a decision's reason never holds one, `schemes.AuthResult`).

Written without a database write per handshake: a 10,000-station cold storm is 10,000
decisions in a minute, and a flood of guesses many more. Decisions are collected in
memory and written every `CSMS["AUTH_AUDIT_FLUSH_SECONDS"]` in one bulk INSERT per
`BATCH` rows, as one call on the process's writer (csms/group_commit.py, like the
last-seen stamps of csms/stamps.py). Identical decisions within one flush (same
station, method, outcome, reason and address: a station retrying, or an attacker
repeating a guess) are **coalesced** into one event with their `count` and the first and
last time. The memory is bounded: past `MAX_PENDING` distinct decisions, further ones
are folded per station without their address (`source: "(many)"`), so a flood from
countless addresses costs at most one entry per station, reason and outcome.

A process that dies loses at most one flush interval of them; a database outage keeps
them for the next flush (bounded the same way). An unknown tenant or station (404)
has no tenant to file the event under: it is counted in the metrics only.
"""
import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import IntegerField, Sum, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncHour
from django.utils import timezone

from lib.timestamps import rfc3339
from tenants.models import Tenant

from . import db_outage, group_commit
from .models import AuditEvent, Station

log = logging.getLogger(__name__)

ACTION = "station.auth"
BATCH = 500
MAX_PENDING = 20_000
MANY_SOURCES = "(many)"


@dataclass(frozen=True)
class Decision:
    tenant_id: int
    station_id: int
    method: str  # the scheme presented, a bounded label (handshake_metrics.presented_scheme)
    outcome: str  # one of handshake_metrics.OUTCOMES
    reason: str
    source: str


@dataclass
class _Seen:
    count: int
    first: datetime
    last: datetime


_pending: dict[Decision, _Seen] = {}
_flusher: asyncio.Task | None = None


def record(decision: Decision, at: datetime | None = None) -> None:
    """Note one decision for the next flush (microseconds: no I/O); from the event loop."""
    global _flusher
    _add(decision, _Seen(1, at or timezone.now(), at or timezone.now()))
    loop = asyncio.get_running_loop()
    if _flusher is None or _flusher.done() or _flusher.get_loop() is not loop:
        _flusher = loop.create_task(_flush_forever())


def _add(decision: Decision, seen: _Seen) -> None:
    if decision not in _pending and len(_pending) >= MAX_PENDING:
        decision = Decision(decision.tenant_id, decision.station_id, decision.method, decision.outcome,
                            decision.reason, MANY_SOURCES)
    known = _pending.get(decision)
    if known is None:
        _pending[decision] = seen
        return
    known.count += seen.count
    known.first = min(known.first, seen.first)
    known.last = max(known.last, seen.last)


def event(decision: Decision, seen: _Seen) -> AuditEvent:
    return AuditEvent(
        tenant_id=decision.tenant_id, station_id=decision.station_id, actor="station", action=ACTION,
        outcome=decision.outcome, at=seen.last,
        detail={"method": decision.method, "reason": decision.reason, "source": decision.source,
                "count": seen.count, "first": rfc3339(seen.first), "last": rfc3339(seen.last)})


def write(batch: dict[Decision, _Seen]) -> None:
    """Insert the events of tenants and stations that still exist: one removed since its
    handshake (`station remove`, a tenant deleted) would fail the foreign key at commit,
    and with it every write of its batch, at every retry. A removed station's events keep
    its tenant (as `station.removed` does), without the link."""
    tenants = set(Tenant.objects.filter(pk__in={d.tenant_id for d in batch}).values_list("pk", flat=True))
    stations = set(Station.objects.filter(pk__in={d.station_id for d in batch}).values_list("pk", flat=True))
    rows = []
    for decision, seen in batch.items():
        if decision.tenant_id not in tenants:
            continue
        row = event(decision, seen)
        if decision.station_id not in stations:
            row.station_id = None
        rows.append(row)
    AuditEvent.objects.bulk_create(rows, batch_size=BATCH)


async def flush() -> int:
    """Write what was collected; returns how many events (not decisions) were written."""
    global _pending
    batch, _pending = _pending, {}
    if not batch:
        return 0
    try:
        await group_commit.run(write, batch)
    except Exception as exc:  # an outage: keep them for the next flush, bounded as ever
        for decision, seen in batch.items():
            _add(decision, seen)
        db_outage.failed(log, exc, "writing %d authentication audit events", len(batch), level=logging.WARNING)
        return 0
    return len(batch)


async def _flush_forever() -> None:
    while True:
        await asyncio.sleep(settings.CSMS["AUTH_AUDIT_FLUSH_SECONDS"])
        await flush()


# --- reading them -------------------------------------------------------------------------------

def events(tenant, station=None):
    """The tenant's authentication events (or one station's), newest first: what the
    CLI, the REST API and the portal list."""
    found = AuditEvent.objects.for_tenant(tenant).filter(action=ACTION)
    if station is not None:
        found = found.filter(station=station)
    return found.order_by("-at", "-id")


def recent(tenant, *, station=None, outcome: str | None = None, method: str | None = None, limit: int = 50):
    """The tenant's latest authentication events, newest first, optionally of one
    station, outcome or method (`station auth log`)."""
    found = events(tenant, station).select_related("station")
    if outcome:
        found = found.filter(outcome=outcome)
    if method:
        found = found.filter(detail__method=method)
    return list(found[:limit])


def summary(row: AuditEvent) -> dict:
    return {"at": rfc3339(row.at), "station": row.station.identity if row.station else None,
            "outcome": row.outcome, **row.detail}


# Not failures: a station let in, let in and closed for want of a common OCPP version, or
# a probe let in (and closed before the claim).
NOT_FAILURES = ("accepted", "no_subprotocol", "probed")
FAILURE_HOURS = 24


def failures(tenant, since: datetime):
    """The tenant's refused handshakes since `since`, each event weighing the decisions it
    coalesced (`count`)."""
    return (AuditEvent.objects.for_tenant(tenant).filter(action=ACTION, at__gte=since)
            .exclude(outcome__in=NOT_FAILURES))


def decisions():
    return Sum(Coalesce(Cast(KT("detail__count"), IntegerField()), Value(1)))


def failures_by_hour(tenant, now: datetime | None = None) -> list[tuple[str, int]]:
    """Refused handshakes per hour (UTC) of the last FAILURE_HOURS hours, oldest first,
    every hour listed (an empty one as 0): one aggregate query."""
    first = (now or timezone.now()).replace(minute=0, second=0, microsecond=0) - timedelta(hours=FAILURE_HOURS - 1)
    rows = failures(tenant, first).annotate(hour=TruncHour("at")).values("hour").annotate(n=decisions())
    counts = {row["hour"]: row["n"] for row in rows}
    hours = [first + timedelta(hours=n) for n in range(FAILURE_HOURS)]
    return [(f"{hour:%H}:00", counts.get(hour, 0)) for hour in hours]


def failures_by_kind(tenant, now: datetime | None = None) -> list[tuple[str, int]]:
    """Refused handshakes of the last FAILURE_HOURS hours by outcome and the scheme
    presented ("challenged · none": no credentials sent), most first."""
    since = (now or timezone.now()) - timedelta(hours=FAILURE_HOURS)
    rows = failures(tenant, since).values("outcome", method=KT("detail__method")).annotate(n=decisions())
    return sorted(((f"{row['outcome']} · {row['method'] or 'none'}", row["n"]) for row in rows),
                  key=lambda pair: (-pair[1], pair[0]))

"""The handler registry and the rules shared by both versions.

Handlers are plain synchronous functions `(station, payload) -> response payload`; the
consumer runs them off the event loop, except those registered `on_loop` (no database
work at all). They receive the connection's copy of the Station, reloaded at every
BootNotification and when older than `CSMS["STATION_FRESH_SECONDS"]` (the consumer's
`_fresh_station`), so an operator's change (e.g. to the registration status) applies to
the next boot at once and to everything else within seconds.

A handler whose only write is "this happened now" (a Heartbeat) names the Station
field in `stamps` instead of writing it: the consumer coalesces such writes.
"""
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone

# Action names and DataTransfer statuses are the same in 2.0.1.
from ocpp.v16.enums import Action, DataTransferStatus

from lib.prepared_insert import PreparedInsert

from .. import credentials
from ..models import (
    ConnectorStatus,
    IdTag,
    IdTagStatus,
    MeterValue,
    RegistrationStatus,
    Station,
    StationEvent,
)
from ..protocol import values
from ..protocol.errors import Problem, RpcError


@dataclass
class Handler:
    func: object
    # Actions a Pending station may still send (OCPP 1.6 §4.2 / 2.0.1 B02): the
    # station is known but not yet trusted with transactions.
    allowed_while_pending: bool
    # Touches no database: the consumer may run it on the event loop.
    on_loop: bool = False
    # A Station timestamp field this action sets to "now", written coalesced.
    stamps: str = ""


class Router:
    def __init__(self):
        self.handlers: dict[str, Handler] = {}
        self.after_hooks: dict[str, list] = {}

    def on(self, action: str, *, allowed_while_pending: bool = True, on_loop: bool = False,
           stamps: str = ""):
        def register(func):
            self.handlers[action] = Handler(func, allowed_while_pending, on_loop, stamps)
            return func

        return register

    def after(self, action: str):
        """Register `func(station, payload, response)`, run once the answer to `action` has
        gone out (the `ocpp` library's `@after`): work that follows from a message but is
        no part of its answer, and lives with its own feature (e.g. onboarding a station
        on its series key, csms/rotation_hooks.py)."""
        def register(func):
            self.after_hooks.setdefault(action, []).append(func)
            return func

        return register

    def run_after(self, station: Station, action: str, payload: dict, response: dict) -> None:
        for func in self.after_hooks.get(action, ()):
            func(station, payload, response)

    def serves(self, action: str) -> bool:
        return action in self.handlers

    def dispatch(self, station: Station, action: str, payload: dict, message_id: str) -> dict:
        handler = self.handlers[action]
        status = station.effective_registration
        if action != Action.boot_notification:
            if status == RegistrationStatus.REJECTED or (
                status == RegistrationStatus.PENDING and not handler.allowed_while_pending
            ):
                raise RpcError(
                    Problem.SECURITY,
                    f"{action} is not allowed while the station's registration is {status}",
                    message_id=message_id,
                )
        return handler.func(station, payload)


# --- shared helpers ------------------------------------------------------------------------

def utc_now_text() -> str:
    """currentTime as OCPP wants it: UTC with a Z and millisecond precision."""
    # isoformat, not strftime: half the cost, on every Heartbeat and BootNotification.
    return datetime.now(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def parse_time(value: str | None):
    """An OCPP dateTime as an aware UTC datetime (naive values are read as UTC), or now.

    Validation has refused what `values.instant` cannot represent already; the check
    here keeps a handler's own reading of a field under the same rule.
    """
    if not value:
        return timezone.now()
    try:
        return values.instant(value)
    except values.ValueRefused as exc:
        raise RpcError(Problem.PROPERTY, f"{value!r} {exc}") from None


def boot_interval(station: Station, status: str) -> int:
    from django.conf import settings

    if status == RegistrationStatus.ACCEPTED:
        return station.tenant.heartbeat_interval
    return int(settings.CSMS["BOOT_RETRY_INTERVAL"])


def lookup_id_tag(station: Station, id_tag: str) -> IdTag | None:
    """The tenant's IdTag for a token the station sent, compared case-insensitively.

    1.6 idTag is a CiString20Type and 2.0.1 says "IdToken is case insensitive": RFID
    readers disagree on the case of a UID's hex digits. The tenant's tags are unique by
    LOWER(id_tag), and this asks by exactly that expression, so the lookup is one probe
    of the constraint's index: an exact match and then `iexact` (LIKE) read every tag of
    the tenant, 40-490 ms with 300,000 tags, on the writer every station's writes share
    (csms/group_commit.py).
    """
    return id_tags_matching(station.tenant, id_tag).first()


def id_tags_matching(tenant, id_tag: str):
    """The tenant's tags equal to `id_tag` ignoring case: at most one (the constraint)."""
    return IdTag.objects.for_tenant(tenant).alias(key=Lower("id_tag")).filter(key=Lower(Value(id_tag)))


def id_tag_info_v16(station: Station, id_tag: str) -> dict:
    tag = lookup_id_tag(station, id_tag)
    if tag is None:
        return {"status": IdTagStatus.INVALID.value}
    info = {"status": tag.effective_status()}
    if tag.expires_at:
        info["expiryDate"] = tag.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if tag.parent_id_tag:
        info["parentIdTag"] = tag.parent_id_tag
    return info


ENERGY_REGISTER = "Energy.Active.Import.Register"
_WH_FACTOR = {"Wh": 1, "kWh": 1000}


def register_wh(sampled_value: dict, *, unit_key: str = "unit") -> Decimal | None:
    """The Wh reading of an energy-register sample, or None for any other sample.

    1.6 keeps the unit in `unit`; 2.0.1 in `unitOfMeasure.unit` with a power-of-ten
    `multiplier`. Absent measurand means the energy register in both versions. A 1.6
    value that is no number (signed data) is no reading; one that is a number but
    does not fit the register column raises `values.ValueRefused`.
    """
    if sampled_value.get("measurand", ENERGY_REGISTER) != ENERGY_REGISTER:
        return None
    if sampled_value.get("phase"):
        return None
    if unit_key == "unitOfMeasure":
        uom = sampled_value.get("unitOfMeasure") or {}
        unit, multiplier = uom.get("unit", "Wh"), int(uom.get("multiplier", 0))
    else:
        unit, multiplier = sampled_value.get("unit", "Wh"), 0
    if unit not in _WH_FACTOR:
        return None
    number = values.reading(sampled_value.get("value"))
    if number is None:
        return None
    return values.register_wh(number, _WH_FACTOR[unit], multiplier)


def energy_readings(meter_values: list, *, field: str, unit_key: str = "unit") -> list:
    """(context, Wh) of every energy-register sample in a message's meter values.

    Read before anything of the message is stored: a reading the register column
    cannot hold refuses the whole message (PropertyConstraintViolation) rather than
    leaving part of it behind.
    """
    readings = []
    for i, mv in enumerate(meter_values):
        for j, sv in enumerate(mv["sampledValue"]):
            try:
                wh = register_wh(sv, unit_key=unit_key)
            except values.ValueRefused as exc:
                where = f"{field}/{i}/sampledValue/{j}/value"
                raise RpcError(Problem.PROPERTY, f"{where}: {exc}",
                               details={"field": where, "constraint": "range"}) from None
            if wh is not None:
                readings.append((sv.get("context"), wh))
    return readings


_insert_meter_value = PreparedInsert(MeterValue)


def store_meter_values(station, tx, meter_values: list, *, connector_id: int, evse_id: int = 0) -> None:
    """Store the meterValue entries not already stored for `tx` (`unrecorded`), one row
    each. Inserted through a statement built once (lib/prepared_insert.py): a busy
    fleet's most frequent write, and `bulk_create` rebuilt it per message (0.3 ms)."""
    for mv in unrecorded(tx, meter_values):
        _insert_meter_value(MeterValue(
            tenant=station.tenant, station=station, transaction=tx, evse_id=evse_id,
            connector_id=connector_id, timestamp=parse_time(mv["timestamp"]), sampled_values=mv["sampledValue"]))


def unrecorded(tx, meter_values: list) -> list:
    """The meterValue entries of a transaction message not already stored for `tx`.

    Transaction-related messages are delivered at least once (1.6 and 2.0.1 retry them
    when unanswered), so the same reading may arrive again; storing it twice would count
    its energy twice. A reading is the same if its timestamp and samples are.
    """
    if tx is None or tx.pk is None or not meter_values:
        return list(meter_values)
    # Only readings at the incoming instants can be duplicates: the lookup stays small
    # however long the session runs.
    instants = {parse_time(mv["timestamp"]) for mv in meter_values}
    stored = list(MeterValue.objects.filter(transaction=tx, timestamp__in=instants)
                  .values_list("timestamp", "sampled_values"))
    fresh = []
    for mv in meter_values:
        key = (parse_time(mv["timestamp"]), mv["sampledValue"])
        if key not in stored:
            stored.append(key)
            fresh.append(mv)
    return fresh


def record_event(kind, summary_key, time_key=None, request_key=None):
    """A handler that files the notification as a StationEvent and answers `{}`."""

    def handle(station: Station, p: dict) -> dict:
        StationEvent.objects.create(
            tenant=station.tenant, station=station, kind=kind,
            summary=str(p.get(summary_key, ""))[:255],
            request_id=p.get(request_key) if request_key else None,
            occurred_at=parse_time(p.get(time_key)) if time_key else timezone.now(),
            detail=p,
        )
        return {}

    return handle


def data_transfer(station: Station, p: dict) -> dict:
    StationEvent.objects.create(
        tenant=station.tenant, station=station, kind=StationEvent.Kind.DATA_TRANSFER,
        summary=p["vendorId"][:255], detail=p,
    )
    # No vendor extension is registered: say so rather than pretend to understand.
    return {"status": DataTransferStatus.unknown_vendor_id}


def upsert_connector_status(station: Station, evse_id: int, connector_id: int, **fields) -> None:
    """Record the latest status of a connector: one UPDATE in the common case.

    StatusNotification is among the most frequent messages; update_or_create would
    spend a SELECT and a transaction on every one.
    """
    fields["received_at"] = timezone.now()
    rows = ConnectorStatus.objects.filter(station=station, evse_id=evse_id, connector_id=connector_id)
    if rows.update(**fields):
        return
    try:
        with db_transaction.atomic():
            ConnectorStatus.objects.create(tenant=station.tenant, station=station, evse_id=evse_id,
                                           connector_id=connector_id, **fields)
    except IntegrityError:  # a concurrent first report won the insert: apply ours on top
        rows.update(**fields)


def boot_status(station: Station) -> str:
    """The registration status a BootNotification gets.

    A station still on its series (master) key is answered Pending (its onboarding starts
    after the answer, csms/rotation_hooks.py); its next BootNotification after the change
    is Accepted (OCPP-J 1.6 §6.2.2), and so is one that lets it carry out a settling Reset.
    """
    status = station.effective_registration
    if status == RegistrationStatus.PENDING and credentials.boot_accepted_to_carry_out_reset(station):
        return RegistrationStatus.ACCEPTED
    return status

"""OCPP 2.0.1 messages a charging station sends."""
from django.db import transaction as db_transaction
from django.utils import timezone
from ocpp.v201.enums import Action, AuthorizationStatusEnumType

from ..models import Station, StationEvent, Transaction
from ..reports import store_report
from .base import (
    Router,
    boot_interval,
    boot_status,
    data_transfer,
    energy_readings,
    lookup_id_tag,
    parse_time,
    record_event,
    store_meter_values,
    upsert_connector_status,
    utc_now_text,
)

router = Router()


@router.on(Action.boot_notification)
def boot_notification(station: Station, p: dict) -> dict:
    now = timezone.now()
    cs = p["chargingStation"]
    station.vendor = cs["vendorName"]
    station.model = cs["model"]
    station.serial_number = cs.get("serialNumber", "")
    station.firmware_version = cs.get("firmwareVersion", "")
    station.last_boot_at = now
    station.last_boot_reason = p["reason"]
    station.save(update_fields=["vendor", "model", "serial_number", "firmware_version",
                                "last_boot_at", "last_boot_reason"])
    status = boot_status(station)
    StationEvent.objects.create(tenant=station.tenant, station=station,
                                kind=StationEvent.Kind.BOOT, summary=status, occurred_at=now,
                                detail=p)
    return {"status": status, "currentTime": utc_now_text(),
            "interval": boot_interval(station, status)}


@router.on(Action.heartbeat, on_loop=True, stamps="last_heartbeat_at")
def heartbeat(station: Station, p: dict) -> dict:
    return {"currentTime": utc_now_text()}


@router.on(Action.status_notification)
def status_notification(station: Station, p: dict) -> dict:
    upsert_connector_status(station, p["evseId"], p["connectorId"], status=p["connectorStatus"],
                            reported_at=parse_time(p["timestamp"]))
    return {}


def id_token_info(station: Station, id_token: dict) -> dict:
    if id_token.get("type") == "NoAuthorization":
        # The station's own policy says this EVSE needs no authorisation (free
        # charging); answering anything else would make it stop the session.
        return {"status": AuthorizationStatusEnumType.accepted}
    tag = lookup_id_token(station, id_token)
    if tag is None:
        return {"status": "Unknown"}
    info = {"status": tag.effective_status()}
    if tag.expires_at:
        info["cacheExpiryDateTime"] = tag.expires_at.isoformat().replace("+00:00", "Z")
    if tag.parent_id_tag:
        info["groupIdToken"] = {"idToken": tag.parent_id_tag, "type": "Central"}
    return info


def lookup_id_token(station: Station, id_token: dict):
    if id_token.get("type") == "NoAuthorization" or not id_token.get("idToken"):
        return None
    return lookup_id_tag(station, id_token["idToken"])


@router.on(Action.authorize, allowed_while_pending=False)
def authorize(station: Station, p: dict) -> dict:
    return {"idTokenInfo": id_token_info(station, p["idToken"])}


@router.on(Action.transaction_event, allowed_while_pending=False)
def transaction_event(station: Station, p: dict) -> dict:
    info = p["transactionInfo"]
    evse = p.get("evse") or {}
    at = parse_time(p["timestamp"])
    id_token = p.get("idToken")
    token_info = id_token_info(station, id_token) if id_token else None
    with db_transaction.atomic():
        # Events may arrive out of order (offline queueing): whichever comes first
        # creates the row, the others complete it.
        tx, _ = Transaction.objects.select_for_update().get_or_create(
            station=station, station_transaction_id=info["transactionId"],
            defaults={"tenant": station.tenant},
        )
        # State (charging state, sequence number) comes from the newest event by seqNo,
        # not from whichever arrived last: a queued Updated must not revive an Ended one.
        newest = tx.last_seq_no is None or p["seqNo"] >= tx.last_seq_no
        fields = {}
        if newest:
            fields["last_seq_no"] = p["seqNo"]
        if evse:
            fields["evse_id"] = evse["id"]
            fields["connector_id"] = evse.get("connectorId", tx.connector_id)
        # The session belongs to the token that started it; a later token (e.g. the card
        # that stopped it, sent with Ended) only fills the gap when none is known yet.
        if id_token and id_token.get("idToken") and (p["eventType"] == "Started" or not tx.id_tag):
            fields["id_tag"] = id_token["idToken"]
            fields["id_tag_status"] = token_info["status"]
        if info.get("chargingState") and newest:
            fields["charging_state"] = info["chargingState"]
        if p.get("reservationId") is not None:
            fields["reservation_id"] = p["reservationId"]
        if p["eventType"] == "Started" or tx.started_at is None:
            fields["started_at"] = min(at, tx.started_at) if tx.started_at else at
        if p["eventType"] == "Ended":
            fields["stopped_at"] = at
            fields["stop_reason"] = info.get("stoppedReason", "Local")
        for name, value in fields.items():
            setattr(tx, name, value)
        tx.save()
        _store_meter_values(station, p.get("meterValue", []), tx.evse_id, tx.connector_id, tx)
    return {"idTokenInfo": token_info} if token_info else {}


@router.on(Action.meter_values, allowed_while_pending=False)
def meter_values(station: Station, p: dict) -> dict:
    _store_meter_values(station, p["meterValue"], p["evseId"], 0, None)
    return {}


def _store_meter_values(station, meter_values, evse_id, connector_id, tx):
    readings = energy_readings(meter_values, field="meterValue", unit_key="unitOfMeasure")
    store_meter_values(station, tx, meter_values, connector_id=connector_id, evse_id=evse_id)
    if tx is None:
        return
    # A re-sent message carries the same readings: applying them again changes nothing.
    changed = []
    for context, wh in readings:
        if context == "Transaction.Begin" and tx.meter_start_wh is None:
            tx.meter_start_wh = wh
            changed.append("meter_start_wh")
        elif context == "Transaction.End":
            tx.meter_stop_wh = wh
            changed.append("meter_stop_wh")
    if changed:
        tx.save(update_fields=sorted(set(changed)))


@router.on(Action.notify_report)
def notify_report(station: Station, p: dict) -> dict:
    store_report(station, p)
    return {}


router.on(Action.data_transfer)(data_transfer)



router.on(Action.security_event_notification)(
    record_event(StationEvent.Kind.SECURITY_EVENT, "type", time_key="timestamp"))
router.on(Action.firmware_status_notification)(
    record_event(StationEvent.Kind.FIRMWARE_STATUS, "status", request_key="requestId"))
router.on(Action.log_status_notification)(
    record_event(StationEvent.Kind.LOG_STATUS, "status", request_key="requestId"))


@router.on(Action.notify_event)
def notify_event(station: Station, p: dict) -> dict:
    events = p["eventData"]
    first = events[0]
    summary = (f"{first['component']['name']}.{first['variable']['name']}="
               f"{first['actualValue']} ({first['trigger']})")
    if len(events) > 1:
        summary += f" +{len(events) - 1} more"
    StationEvent.objects.create(
        tenant=station.tenant, station=station, kind=StationEvent.Kind.NOTIFY_EVENT,
        summary=summary[:255], occurred_at=parse_time(p["generatedAt"]), detail=p,
    )
    return {}

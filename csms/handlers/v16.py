"""OCPP 1.6 actions a charge point sends, including the security white paper's."""
from django.db import transaction as db_transaction
from django.db.models import Q
from django.utils import timezone
from ocpp.v16.enums import Action

from ..models import Station, StationEvent, Transaction
from .base import (
    Router,
    boot_interval,
    boot_status,
    data_transfer,
    energy_readings,
    id_tag_info_v16,
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
    station.vendor = p["chargePointVendor"]
    station.model = p["chargePointModel"]
    station.serial_number = p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber", "")
    station.firmware_version = p.get("firmwareVersion", "")
    station.last_boot_at = now
    station.last_boot_reason = ""
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
    upsert_connector_status(
        station, 0, p["connectorId"], status=p["status"], error_code=p["errorCode"],
        info=p.get("info", ""), vendor_id=p.get("vendorId", ""),
        vendor_error_code=p.get("vendorErrorCode", ""), reported_at=parse_time(p.get("timestamp")),
    )
    return {}


@router.on(Action.authorize, allowed_while_pending=False)
def authorize(station: Station, p: dict) -> dict:
    return {"idTagInfo": id_tag_info_v16(station, p["idTag"])}


@router.on(Action.start_transaction, allowed_while_pending=False)
def start_transaction(station: Station, p: dict) -> dict:
    started_at = parse_time(p["timestamp"])
    info = id_tag_info_v16(station, p["idTag"])
    with db_transaction.atomic():
        # A station that lost our answer sends the same StartTransaction again: give it
        # the same transactionId instead of recording the session twice.
        tx = Transaction.objects.filter(
            station=station, connector_id=p["connectorId"], started_at=started_at,
            id_tag=p["idTag"],
        ).first()
        if tx is None:
            tx = Transaction.objects.create(
                tenant=station.tenant, station=station, connector_id=p["connectorId"],
                id_tag=p["idTag"], id_tag_status=info["status"],
                meter_start_wh=p["meterStart"], started_at=started_at,
                reservation_id=p.get("reservationId"),
            )
    return {"transactionId": tx.pk, "idTagInfo": info}


@router.on(Action.stop_transaction, allowed_while_pending=False)
def stop_transaction(station: Station, p: dict) -> dict:
    stopped_at = parse_time(p["timestamp"])
    with db_transaction.atomic():
        tx = (Transaction.objects.select_for_update()
              .filter(Q(pk=p["transactionId"]) | Q(station_transaction_id=str(p["transactionId"])),
                      station=station).first())
        if tx is None:
            # A transaction we never saw start (its StartTransaction was lost): keep the
            # facts under the id the station used.
            tx = Transaction.objects.create(
                tenant=station.tenant, station=station,
                station_transaction_id=str(p["transactionId"]), id_tag=p.get("idTag", ""),
            )
        if tx.stopped_at is None:
            tx.meter_stop_wh = p["meterStop"]
            tx.stopped_at = stopped_at
            tx.stop_reason = p.get("reason", "Local")
            tx.save(update_fields=["meter_stop_wh", "stopped_at", "stop_reason"])
            _store_meter_values(station, p.get("transactionData", []), tx.connector_id, tx,
                                field="transactionData")
    response = {}
    if p.get("idTag"):
        response["idTagInfo"] = id_tag_info_v16(station, p["idTag"])
    return response


@router.on(Action.meter_values, allowed_while_pending=False)
def meter_values(station: Station, p: dict) -> dict:
    tx = None
    if p.get("transactionId") is not None:
        tx = Transaction.objects.filter(station=station, pk=p["transactionId"]).first()
    _store_meter_values(station, p["meterValue"], p["connectorId"], tx)
    return {}


def _store_meter_values(station, meter_values, connector_id, tx, field="meterValue"):
    begins = [wh for context, wh in energy_readings(meter_values, field=field)
              if context == "Transaction.Begin"]
    store_meter_values(station, tx, meter_values, connector_id=connector_id)
    if tx is not None and tx.meter_start_wh is None and begins:
        tx.meter_start_wh = begins[0]
        tx.save(update_fields=["meter_start_wh"])


router.on(Action.data_transfer)(data_transfer)



router.on(Action.diagnostics_status_notification)(
    record_event(StationEvent.Kind.DIAGNOSTICS_STATUS, "status"))
router.on(Action.firmware_status_notification)(record_event(StationEvent.Kind.FIRMWARE_STATUS, "status"))
router.on(Action.security_event_notification)(
    record_event(StationEvent.Kind.SECURITY_EVENT, "type", time_key="timestamp"))
router.on(Action.log_status_notification)(
    record_event(StationEvent.Kind.LOG_STATUS, "status", request_key="requestId"))
router.on(Action.signed_firmware_status_notification)(
    record_event(StationEvent.Kind.SIGNED_FIRMWARE_STATUS, "status", request_key="requestId"))

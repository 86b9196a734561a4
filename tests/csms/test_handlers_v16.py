"""OCPP 1.6 actions a charge point sends, as a real `ocpp` ChargePoint sends them.

Each test drives a station over a live socket, then checks what the station was told
and what an operator finds in the database afterwards.
"""
import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from ocpp.exceptions import SecurityError
from ocpp.v16 import call as call16

from csms.models import ConnectorStatus, MeterValue, RegistrationStatus, Station, StationEvent, Transaction
from tests.csms import conversation
from tests.csms.conversation import assert_ocpp_utc_now, at, events, heartbeat_written
from tests.factories import AL1000_KEY, make_id_tag, make_station, make_tenant
from tests.stations import station
from tests.waiting import in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)


def acme_station(identity="CP1", heartbeat_interval=300, **fields) -> Station:
    return conversation.acme_station(identity, heartbeat_interval, **fields)


def converse(csms, run, *payloads, identity="CP1", tenant="acme"):
    return conversation.converse(csms, run, "1.6", identity, tenant, *payloads)


def boot(**fields):
    fields.setdefault("charge_point_vendor", "Alfen BV")
    fields.setdefault("charge_point_model", "NG920-61001")
    return call16.BootNotification(**fields)


def sample(value, measurand="Energy.Active.Import.Register", unit="Wh", **more):
    return {"value": value, "measurand": measurand, "unit": unit, **more}


# --- BootNotification ------------------------------------------------------------------------

def test_accepted_boot_records_station_facts_and_answers_tenant_heartbeat_interval(csms, run):
    row = acme_station(heartbeat_interval=120)
    before = timezone.now()

    [answer] = converse(csms, run, boot(
        charge_point_serial_number="ACE0815443", charge_box_serial_number="BOX-1",
        firmware_version="5.8.1-4123", iccid="8931440400012345678", imsi="262019876543210",
        meter_type="Eastron SDM630", meter_serial_number="SDM-001122"))

    assert answer.status == "Accepted"
    assert answer.interval == 120
    assert_ocpp_utc_now(answer.current_time)
    row.refresh_from_db()
    assert (row.vendor, row.model, row.serial_number, row.firmware_version) == (
        "Alfen BV", "NG920-61001", "ACE0815443", "5.8.1-4123")
    assert before <= row.last_boot_at <= timezone.now()
    assert row.last_boot_reason == ""
    [event] = events(row, StationEvent.Kind.BOOT)
    assert event.summary == "Accepted"
    assert event.tenant_id == row.tenant_id
    assert event.occurred_at == row.last_boot_at
    assert event.detail["meterSerialNumber"] == "SDM-001122"
    assert event.detail["iccid"] == "8931440400012345678"


def test_boot_falls_back_to_charge_box_serial_number(csms, run):
    row = acme_station()
    converse(csms, run, boot(charge_box_serial_number="CBX-77"))
    row.refresh_from_db()
    assert row.serial_number == "CBX-77"
    assert row.firmware_version == ""


@pytest.mark.parametrize("status", [RegistrationStatus.PENDING, RegistrationStatus.REJECTED])
def test_boot_of_station_not_accepted_answers_retry_interval(csms, run, status):
    row = acme_station(heartbeat_interval=120, registration_status=status)

    [answer] = converse(csms, run, boot(firmware_version="1.0.0"))

    assert answer.status == status.value
    assert answer.interval == settings.CSMS["BOOT_RETRY_INTERVAL"] != 120
    assert_ocpp_utc_now(answer.current_time)
    row.refresh_from_db()
    assert row.vendor == "Alfen BV" and row.firmware_version == "1.0.0"
    assert [e.summary for e in events(row, StationEvent.Kind.BOOT)] == [status.value]


def test_operator_acceptance_applies_to_the_next_boot_on_the_same_connection(csms, run):
    row = acme_station(heartbeat_interval=900, registration_status=RegistrationStatus.PENDING)

    def accept():
        Station.objects.filter(pk=row.pk).update(registration_status=RegistrationStatus.ACCEPTED)

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            first = await cp.call(boot())
            await in_thread_db(accept)()
            second = await cp.call(boot())
            return first, second

    first, second = run(scenario())
    assert (first.status, first.interval) == ("Pending", settings.CSMS["BOOT_RETRY_INTERVAL"])
    assert (second.status, second.interval) == ("Accepted", 900)
    assert [e.summary for e in events(row, StationEvent.Kind.BOOT)] == ["Pending", "Accepted"]


def test_pending_station_may_talk_but_not_charge(csms, run):
    row = acme_station(registration_status=RegistrationStatus.PENDING)
    make_id_tag(row.tenant, "04E1A2B3C4D5E6")

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            await cp.call(boot())
            heartbeat = await cp.call(call16.Heartbeat(), suppress=False)
            with pytest.raises(SecurityError):
                await cp.call(call16.StartTransaction(
                    connector_id=1, id_tag="04E1A2B3C4D5E6", meter_start=1000,
                    timestamp="2025-06-02T08:15:00Z"), suppress=False)
            with pytest.raises(SecurityError):
                await cp.call(call16.Authorize(id_tag="04E1A2B3C4D5E6"), suppress=False)
            return heartbeat

    heartbeat = run(scenario())
    assert_ocpp_utc_now(heartbeat.current_time)
    assert not Transaction.objects.exists()


def test_an_operators_rejection_reaches_a_connected_station_without_any_event(csms, run):
    """The connection keeps its station row between messages; a change made where no
    channel-layer event reaches it (another process, embedded mode) applies within
    CSMS_STATION_FRESH_SECONDS (1 s on the test servers), Heartbeats included."""
    row = acme_station()

    def reject():
        Station.objects.filter(pk=row.pk).update(registration_status=RegistrationStatus.REJECTED)

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            await cp.call(boot(), suppress=False)
            await cp.call(call16.Heartbeat(), suppress=False)
            await in_thread_db(reject)()
            started = asyncio.get_running_loop().time()
            while True:
                try:
                    await cp.call(call16.Heartbeat(), suppress=False)
                except SecurityError:
                    return asyncio.get_running_loop().time() - started
                await asyncio.sleep(0.1)

    assert run(scenario()) < 3.0  # at most one background reload past the second


def test_rejected_station_gets_nothing_but_boot_answers(csms, run):
    row = acme_station(registration_status=RegistrationStatus.REJECTED)

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            answer = await cp.call(boot(), suppress=False)
            with pytest.raises(SecurityError):
                await cp.call(call16.Heartbeat(), suppress=False)
            return answer

    assert run(scenario()).status == "Rejected"
    row.refresh_from_db()
    assert row.last_heartbeat_at is None


# --- Heartbeat, StatusNotification -------------------------------------------------------------

def test_heartbeat_records_when_the_station_was_last_alive(csms, run):
    row = acme_station()
    before = timezone.now()

    first, second = converse(csms, run, call16.Heartbeat(), call16.Heartbeat())

    assert_ocpp_utc_now(first.current_time)
    assert_ocpp_utc_now(second.current_time)
    # Written by the process's stamp writer within its flush period (csms/stamps.py).
    assert before <= heartbeat_written(row) <= timezone.now()


def test_status_notifications_keep_the_latest_status_per_connector(csms, run):
    row = acme_station()

    converse(
        csms, run,
        # Some firmware sends local-less timestamps without an offset: read them as UTC.
        call16.StatusNotification(connector_id=0, error_code="NoError", status="Available",
                                  timestamp="2025-06-02T08:00:00"),
        call16.StatusNotification(connector_id=1, error_code="NoError", status="Preparing",
                                  timestamp="2025-06-02T08:14:30.125Z"),
        call16.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted",
                                  timestamp="2025-06-02T08:14:31Z", info="RCD tripped",
                                  vendor_id="com.alfen", vendor_error_code="E-0x2F"),
        call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging",
                                  timestamp="2025-06-02T08:15:02+02:00"),
    )

    rows = {s.connector_id: s for s in ConnectorStatus.objects.filter(station=row)}
    assert sorted(rows) == [0, 1, 2]
    assert {s.evse_id for s in rows.values()} == {0}
    assert {s.tenant_id for s in rows.values()} == {row.tenant_id}
    assert (rows[0].status, rows[0].error_code) == ("Available", "NoError")
    assert rows[0].reported_at == datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    assert rows[1].status == "Charging"
    assert rows[1].reported_at == datetime(2025, 6, 2, 6, 15, 2, tzinfo=UTC)
    faulted = rows[2]
    assert (faulted.status, faulted.error_code, faulted.info, faulted.vendor_id,
            faulted.vendor_error_code) == ("Faulted", "GroundFailure", "RCD tripped", "com.alfen",
                                           "E-0x2F")
    assert faulted.reported_at == datetime(2025, 6, 2, 8, 14, 31, tzinfo=UTC)


def test_status_notification_without_timestamp_is_dated_on_receipt(csms, run):
    row = acme_station()
    before = timezone.now()
    converse(csms, run, call16.StatusNotification(connector_id=1, error_code="NoError",
                                                  status="Unavailable"))
    status = ConnectorStatus.objects.get(station=row)
    assert status.status == "Unavailable"
    assert before <= status.reported_at <= timezone.now()


# --- Authorize ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, expected", [
    ({}, {"status": "Accepted"}),
    ({"parent_id_tag": "FLEET-ACME-7"}, {"status": "Accepted", "parent_id_tag": "FLEET-ACME-7"}),
    ({"expires_at": datetime(2031, 1, 1, 12, 0, tzinfo=UTC)},
     {"status": "Accepted", "expiry_date": "2031-01-01T12:00:00Z"}),
    ({"expires_at": datetime(2024, 1, 1, tzinfo=UTC)},
     {"status": "Expired", "expiry_date": "2024-01-01T00:00:00Z"}),
    ({"status": "Blocked"}, {"status": "Blocked"}),
    ({"status": "Invalid"}, {"status": "Invalid"}),
])
def test_authorize_answers_the_tenants_verdict_on_the_id_tag(csms, run, fields, expected):
    row = acme_station()
    make_id_tag(row.tenant, "04E1A2B3C4D5E6", **fields)

    [answer] = converse(csms, run, call16.Authorize(id_tag="04E1A2B3C4D5E6"))

    assert answer.id_tag_info == expected


def test_authorize_unknown_id_tag_is_invalid(csms, run):
    row = acme_station()
    make_id_tag(row.tenant, "04E1A2B3C4D5E6")
    [answer] = converse(csms, run, call16.Authorize(id_tag="DEADBEEF0001"))
    assert answer.id_tag_info == {"status": "Invalid"}


def test_id_tag_is_case_insensitive(csms, run):
    # OCPP 1.6 §7.28: IdToken is a CiString20Type, a case-insensitive string; RFID
    # readers disagree on the case of a UID's hex digits.
    row = acme_station()
    make_id_tag(row.tenant, "04E1A2B3C4D5E6", parent_id_tag="FLEET-7")
    [answer] = converse(csms, run, call16.Authorize(id_tag="04e1a2b3c4d5e6"))
    assert answer.id_tag_info == {"status": "Accepted", "parent_id_tag": "FLEET-7"}


def test_id_tag_of_another_tenant_does_not_authorise(csms, run):
    row = acme_station()
    other = make_tenant("globex")
    make_id_tag(other, "04E1A2B3C4D5E6")
    make_station(other, "CP1", AL1000_KEY)

    authorize, start = converse(
        csms, run, call16.Authorize(id_tag="04E1A2B3C4D5E6"),
        call16.StartTransaction(connector_id=1, id_tag="04E1A2B3C4D5E6", meter_start=0,
                                timestamp="2025-06-02T08:15:00Z"))
    [globex_answer] = converse(csms, run, call16.Authorize(id_tag="04E1A2B3C4D5E6"),
                               tenant="globex")

    assert authorize.id_tag_info == {"status": "Invalid"}
    assert start.id_tag_info == {"status": "Invalid"}
    tx = Transaction.objects.get(pk=start.transaction_id)
    assert (tx.station_id, tx.tenant_id, tx.id_tag_status) == (row.pk, row.tenant_id, "Invalid")
    assert globex_answer.id_tag_info == {"status": "Accepted"}


# --- Start/StopTransaction, MeterValues ---------------------------------------------------------

def test_start_transaction_opens_a_session_named_by_our_primary_key(csms, run):
    row = acme_station()
    make_id_tag(row.tenant, "04E1A2B3C4D5E6", parent_id_tag="FLEET-7")

    [answer] = converse(csms, run, call16.StartTransaction(
        connector_id=2, id_tag="04E1A2B3C4D5E6", meter_start=1523400,
        timestamp="2025-06-02T08:15:00.250Z", reservation_id=42))

    assert answer.id_tag_info == {"status": "Accepted", "parent_id_tag": "FLEET-7"}
    tx = Transaction.objects.get()
    assert answer.transaction_id == tx.pk
    assert (tx.tenant_id, tx.station_id, tx.connector_id, tx.evse_id) == (row.tenant_id, row.pk, 2, 0)
    assert (tx.id_tag, tx.id_tag_status, tx.reservation_id) == ("04E1A2B3C4D5E6", "Accepted", 42)
    assert tx.meter_start_wh == Decimal("1523400")
    assert tx.started_at == datetime(2025, 6, 2, 8, 15, 0, 250000, tzinfo=UTC)
    assert tx.is_active and tx.meter_stop_wh is None and tx.station_transaction_id == ""


def test_repeated_start_transaction_gets_the_same_transaction_id(csms, run):
    row = acme_station()
    make_id_tag(row.tenant, "04E1A2B3C4D5E6")
    start = call16.StartTransaction(connector_id=1, id_tag="04E1A2B3C4D5E6", meter_start=2000,
                                    timestamp="2025-06-02T08:15:00Z")
    later = call16.StartTransaction(connector_id=1, id_tag="04E1A2B3C4D5E6", meter_start=9000,
                                    timestamp="2025-06-02T11:40:00Z")

    first, again, other = converse(csms, run, start, start, later)
    # The answer was lost on the way: the station retries on a new connection.
    [retried] = converse(csms, run, start)

    assert first.transaction_id == again.transaction_id == retried.transaction_id
    assert other.transaction_id != first.transaction_id
    assert Transaction.objects.filter(station=row).count() == 2
    assert Transaction.objects.get(pk=first.transaction_id).meter_start_wh == 2000


def test_stop_transaction_closes_the_session_with_its_transaction_data(csms, run):
    row = acme_station()
    make_id_tag(row.tenant, "04E1A2B3C4D5E6")
    transaction_data = [
        {"timestamp": "2025-06-02T08:15:00Z", "sampledValue": [
            sample("15234.5", context="Transaction.Begin", location="Outlet")]},
        {"timestamp": "2025-06-02T09:15:00Z", "sampledValue": [
            sample("26274.5", context="Sample.Periodic"),
            sample("11040", measurand="Power.Active.Import", unit="W", context="Sample.Periodic"),
            sample("16.0", measurand="Current.Import", unit="A", phase="L1",
                   context="Sample.Periodic")]},
        {"timestamp": "2025-06-02T09:47:12Z", "sampledValue": [
            sample("32.1", unit="kWh", context="Transaction.End")]},
    ]

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            start = await cp.call(call16.StartTransaction(
                connector_id=1, id_tag="04E1A2B3C4D5E6", meter_start=15234,
                timestamp="2025-06-02T08:15:00Z"), suppress=False)
            stop = await cp.call(call16.StopTransaction(
                transaction_id=start.transaction_id, meter_stop=32100,
                timestamp="2025-06-02T09:47:12Z", reason="EVDisconnected",
                id_tag="04E1A2B3C4D5E6", transaction_data=transaction_data), suppress=False)
            return start, stop

    start, stop = run(scenario())

    assert stop.id_tag_info == {"status": "Accepted"}
    tx = Transaction.objects.get()
    assert tx.pk == start.transaction_id
    assert not tx.is_active
    assert tx.stopped_at == datetime(2025, 6, 2, 9, 47, 12, tzinfo=UTC)
    assert tx.stop_reason == "EVDisconnected"
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (15234, 32100, 16866)
    readings = list(MeterValue.objects.filter(station=row).order_by("timestamp"))
    assert [m.transaction_id for m in readings] == [tx.pk] * 3
    assert [m.connector_id for m in readings] == [1, 1, 1]
    assert [m.timestamp for m in readings] == [at(mv["timestamp"]) for mv in transaction_data]
    assert [m.sampled_values for m in readings] == [mv["sampledValue"] for mv in transaction_data]


def test_stop_transaction_without_reason_or_id_tag_is_a_local_stop(csms, run):
    acme_station()

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            start = await cp.call(call16.StartTransaction(
                connector_id=1, id_tag="AB12CD34", meter_start=0,
                timestamp="2025-06-02T08:15:00Z"), suppress=False)
            return await cp.call(call16.StopTransaction(
                transaction_id=start.transaction_id, meter_stop=7450,
                timestamp="2025-06-02T08:52:00Z"), suppress=False)

    stop = run(scenario())
    assert stop.id_tag_info is None
    tx = Transaction.objects.get()
    assert (tx.stop_reason, tx.meter_stop_wh, tx.energy_wh) == ("Local", 7450, 7450)


def test_repeated_stop_transaction_changes_nothing(csms, run):
    row = acme_station()
    data = [{"timestamp": "2025-06-02T08:52:00Z",
             "sampledValue": [sample("7450", context="Transaction.End")]}]

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            start = await cp.call(call16.StartTransaction(
                connector_id=1, id_tag="AB12CD34", meter_start=0,
                timestamp="2025-06-02T08:15:00Z"), suppress=False)
            for meter_stop, when in ((7450, "2025-06-02T08:52:00Z"), (9999, "2025-06-02T09:00:00Z")):
                await cp.call(call16.StopTransaction(
                    transaction_id=start.transaction_id, meter_stop=meter_stop, timestamp=when,
                    reason="Remote", transaction_data=data), suppress=False)

    run(scenario())
    tx = Transaction.objects.get()
    assert (tx.meter_stop_wh, tx.stop_reason) == (7450, "Remote")
    assert tx.stopped_at == datetime(2025, 6, 2, 8, 52, tzinfo=UTC)
    assert MeterValue.objects.filter(station=row).count() == 1


def test_stop_of_a_transaction_never_seen_starting_is_still_recorded(csms, run):
    row = acme_station()
    make_id_tag(row.tenant, "04E1A2B3C4D5E6")
    data = [
        {"timestamp": "2025-06-01T22:03:00Z", "sampledValue": [
            sample("118.204", unit="kWh", context="Transaction.Begin")]},
        {"timestamp": "2025-06-02T05:30:00Z", "sampledValue": [
            sample("161.87", unit="kWh", context="Transaction.End")]},
    ]

    [stop] = converse(csms, run, call16.StopTransaction(
        transaction_id=4711, meter_stop=161870, timestamp="2025-06-02T05:30:00Z",
        reason="PowerLoss", id_tag="04E1A2B3C4D5E6", transaction_data=data))

    assert stop.id_tag_info == {"status": "Accepted"}
    tx = Transaction.objects.get(station=row)
    assert (tx.station_transaction_id, tx.tenant_id, tx.id_tag) == ("4711", row.tenant_id,
                                                                    "04E1A2B3C4D5E6")
    assert tx.stopped_at == datetime(2025, 6, 2, 5, 30, tzinfo=UTC)
    assert tx.stop_reason == "PowerLoss"
    assert tx.meter_start_wh == Decimal("118204")  # the kWh Transaction.Begin reading
    assert tx.meter_stop_wh == Decimal("161870")
    assert tx.energy_wh == Decimal("43666")
    assert list(MeterValue.objects.filter(transaction=tx).values_list("timestamp", flat=True)) == [
        at("2025-06-01T22:03:00Z"), at("2025-06-02T05:30:00Z")]


def test_stop_transaction_cannot_close_another_stations_session(csms, run):
    row = acme_station("CP1")
    make_station(row.tenant, "CP2", AL1000_KEY)

    [start] = converse(csms, run, call16.StartTransaction(
        connector_id=1, id_tag="AB12CD34", meter_start=0, timestamp="2025-06-02T08:15:00Z"))
    converse(csms, run,
             call16.MeterValues(connector_id=1, transaction_id=start.transaction_id, meter_value=[
                 {"timestamp": "2025-06-02T08:19:00Z", "sampledValue": [sample("480")]}]),
             call16.StopTransaction(transaction_id=start.transaction_id, meter_stop=500,
                                    timestamp="2025-06-02T08:20:00Z"),
             identity="CP2")

    assert Transaction.objects.get(pk=start.transaction_id).is_active
    assert not MeterValue.objects.filter(transaction_id=start.transaction_id).exists()
    stray = Transaction.objects.exclude(pk=start.transaction_id).get()
    assert stray.station.identity == "CP2"
    assert stray.station_transaction_id == str(start.transaction_id)


def test_meter_values_are_kept_as_sent_and_linked_to_their_transaction(csms, run):
    row = acme_station()
    during = [{"timestamp": "2025-06-02T08:30:00Z", "sampledValue": [
        sample("17003.2", context="Sample.Periodic", format="Raw", location="Outlet"),
        sample("10870", measurand="Power.Active.Import", unit="W", context="Sample.Periodic"),
        sample("54", measurand="SoC", unit="Percent", location="EV", context="Sample.Periodic"),
    ]}]
    idle = [{"timestamp": "2025-06-02T07:00:00Z", "sampledValue": [
        sample("231.4", measurand="Voltage", unit="V", phase="L1-N", context="Sample.Clock")]}]

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            start = await cp.call(call16.StartTransaction(
                connector_id=1, id_tag="AB12CD34", meter_start=15234,
                timestamp="2025-06-02T08:15:00Z"), suppress=False)
            await cp.call(call16.MeterValues(connector_id=1, transaction_id=start.transaction_id,
                                             meter_value=during), suppress=False)
            await cp.call(call16.MeterValues(connector_id=0, meter_value=idle), suppress=False)
            return start

    start = run(scenario())
    linked = MeterValue.objects.get(transaction_id=start.transaction_id)
    assert (linked.tenant_id, linked.station_id, linked.connector_id) == (row.tenant_id, row.pk, 1)
    assert linked.timestamp == datetime(2025, 6, 2, 8, 30, tzinfo=UTC)
    assert linked.sampled_values == during[0]["sampledValue"]
    loose = MeterValue.objects.get(transaction=None)
    assert (loose.connector_id, loose.timestamp) == (0, datetime(2025, 6, 2, 7, 0, tzinfo=UTC))
    assert loose.sampled_values == idle[0]["sampledValue"]
    # Periodic samples never rewrite the session's start reading.
    assert Transaction.objects.get().meter_start_wh == 15234


def test_retransmitted_transaction_meter_values_are_not_stored_twice(csms, run):
    # Transaction-related messages are retried when unanswered (1.6 §4.7,
    # TransactionMessageAttempts): the same reading may arrive twice.
    row = acme_station()
    reading = [{"timestamp": "2025-06-02T08:30:00Z", "sampledValue": [
        sample("17003.2", context="Sample.Periodic")]}]
    next_reading = [{"timestamp": "2025-06-02T08:45:00Z", "sampledValue": [
        sample("19711.9", context="Sample.Periodic")]}]

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            start = await cp.call(call16.StartTransaction(
                connector_id=1, id_tag="AB12CD34", meter_start=15234,
                timestamp="2025-06-02T08:15:00Z"), suppress=False)
            for meter_value in (reading, reading, next_reading):
                await cp.call(call16.MeterValues(connector_id=1, transaction_id=start.transaction_id,
                                                 meter_value=meter_value), suppress=False)
            return start

    start = run(scenario())
    stored = MeterValue.objects.filter(station=row, transaction_id=start.transaction_id)
    assert [m.sampled_values[0]["value"] for m in stored.order_by("timestamp")] == [
        "17003.2", "19711.9"]


# --- DataTransfer and notifications ------------------------------------------------------------

def test_data_transfer_is_recorded_and_answered_unknown_vendor(csms, run):
    row = acme_station()

    [answer] = converse(csms, run, call16.DataTransfer(
        vendor_id="com.alfen", message_id="MaxCurrent", data='{"connector":1,"amps":16}'))

    assert answer.status == "UnknownVendorId"
    [event] = events(row, StationEvent.Kind.DATA_TRANSFER)
    assert event.summary == "com.alfen"
    assert event.detail == {"vendorId": "com.alfen", "messageId": "MaxCurrent",
                            "data": '{"connector":1,"amps":16}'}


def test_diagnostics_and_firmware_progress_is_filed_as_events(csms, run):
    row = acme_station()

    answers = converse(
        csms, run,
        call16.DiagnosticsStatusNotification(status="Uploading"),
        call16.DiagnosticsStatusNotification(status="Uploaded"),
        call16.FirmwareStatusNotification(status="Downloading"),
        call16.FirmwareStatusNotification(status="InstallationFailed"),
    )

    assert all(a is not None for a in answers)
    assert [e.summary for e in events(row, StationEvent.Kind.DIAGNOSTICS_STATUS)] == [
        "Uploading", "Uploaded"]
    firmware = events(row, StationEvent.Kind.FIRMWARE_STATUS)
    assert [e.summary for e in firmware] == ["Downloading", "InstallationFailed"]
    assert firmware[1].detail == {"status": "InstallationFailed"}
    assert {e.tenant_id for e in firmware} == {row.tenant_id}


def test_security_event_is_filed_with_the_stations_timestamp(csms, run):
    row = acme_station()

    converse(csms, run, call16.SecurityEventNotification(
        type="InvalidCentralSystemCertificate", timestamp="2025-06-02T03:12:45.001Z",
        tech_info="certificate chain does not end in a trusted root"))

    [event] = events(row, StationEvent.Kind.SECURITY_EVENT)
    assert event.summary == "InvalidCentralSystemCertificate"
    assert event.occurred_at == datetime(2025, 6, 2, 3, 12, 45, 1000, tzinfo=UTC)
    assert event.detail["techInfo"] == "certificate chain does not end in a trusted root"


def test_log_and_signed_firmware_status_carry_their_request_id(csms, run):
    row = acme_station()

    converse(
        csms, run,
        call16.LogStatusNotification(status="Uploading", request_id=31),
        call16.LogStatusNotification(status="Uploaded", request_id=31),
        call16.SignedFirmwareStatusNotification(status="DownloadScheduled", request_id=7),
        call16.SignedFirmwareStatusNotification(status="InvalidSignature", request_id=7),
    )

    logs = events(row, StationEvent.Kind.LOG_STATUS)
    assert [(e.summary, e.request_id) for e in logs] == [("Uploading", 31), ("Uploaded", 31)]
    firmware = events(row, StationEvent.Kind.SIGNED_FIRMWARE_STATUS)
    assert [(e.summary, e.request_id) for e in firmware] == [
        ("DownloadScheduled", 7), ("InvalidSignature", 7)]


# --- connections without a BootNotification ----------------------------------------------------

def test_reconnecting_station_is_served_without_a_new_boot(csms, run):
    # OCPP-J §5.4: after a lost connection the station reconnects and carries on; it
    # sends a BootNotification only when it actually rebooted.
    row = acme_station()
    converse(csms, run, boot(firmware_version="5.8.1"))
    row.refresh_from_db()
    booted_at = row.last_boot_at

    heartbeat, _, start = converse(
        csms, run,
        call16.Heartbeat(),
        call16.StatusNotification(connector_id=1, error_code="NoError", status="Preparing",
                                  timestamp="2025-06-02T08:14:58Z"),
        call16.StartTransaction(connector_id=1, id_tag="AB12CD34", meter_start=100,
                                timestamp="2025-06-02T08:15:00Z"))

    assert_ocpp_utc_now(heartbeat.current_time)
    heartbeat_written(row)
    row.refresh_from_db()
    assert row.last_boot_at == booted_at
    assert ConnectorStatus.objects.get(station=row).status == "Preparing"
    assert Transaction.objects.get(pk=start.transaction_id).station_id == row.pk
    assert len(events(row, StationEvent.Kind.BOOT)) == 1


def test_station_that_never_booted_here_is_served(csms, run):
    row = acme_station()

    heartbeat, _ = converse(
        csms, run, call16.Heartbeat(),
        call16.StatusNotification(connector_id=0, error_code="NoError", status="Available"))

    assert_ocpp_utc_now(heartbeat.current_time)
    heartbeat_written(row)
    row.refresh_from_db()
    assert row.last_boot_at is None
    assert ConnectorStatus.objects.get(station=row).status == "Available"

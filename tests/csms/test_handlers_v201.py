"""OCPP 2.0.1 messages a charging station sends, as a real `ocpp` ChargePoint sends them.

Each test drives a station over a live socket, then checks what the station was told
and what an operator finds in the database afterwards.
"""
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from ocpp.exceptions import SecurityError
from ocpp.v201 import call as call201
from ocpp.v201 import datatypes

from csms.models import (
    ConnectorStatus,
    MeterValue,
    RegistrationStatus,
    ReportedVariable,
    Station,
    StationEvent,
    Transaction,
)
from tests.csms import conversation
from tests.csms.conversation import assert_ocpp_utc_now, at, events, heartbeat_written
from tests.factories import AL1000_KEY, make_id_tag, make_station, make_tenant
from tests.stations import station
from tests.waiting import in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)

TX_ID = "f3b2c1d0-5e6a-4b7c-8d9e-0a1b2c3d4e5f"
RFID = "04E1A2B3C4D5E6"


def acme_station(identity="CS1", heartbeat_interval=300, **fields) -> Station:
    return conversation.acme_station(identity, heartbeat_interval, **fields)


def converse(csms, run, *payloads, identity="CS1", tenant="acme"):
    return conversation.converse(csms, run, "2.0.1", identity, tenant, *payloads)


def boot(reason="PowerUp", **fields):
    fields.setdefault("vendor_name", "Alfen BV")
    fields.setdefault("model", "NG920-61001")
    return call201.BootNotification(charging_station=datatypes.ChargingStationType(**fields),
                                    reason=reason)


def rfid(token=RFID):
    return datatypes.IdTokenType(id_token=token, type="ISO14443")


def energy(value, when, context, unit="kWh", **more):
    """A meterValue holding one energy-register reading (2.0.1 values are numbers)."""
    return {"timestamp": when, "sampledValue": [
        {"value": value, "context": context, "measurand": "Energy.Active.Import.Register",
         "unitOfMeasure": {"unit": unit}, **more}]}


def tx_event(event_type, seq_no, when, trigger, *, state=None, reason=None, tx_id=TX_ID,
             **fields):
    info = {"transaction_id": tx_id}
    if state:
        info["charging_state"] = state
    if reason:
        info["stopped_reason"] = reason
    return call201.TransactionEvent(event_type=event_type, timestamp=when, trigger_reason=trigger,
                                    seq_no=seq_no, transaction_info=info, **fields)


# --- BootNotification ------------------------------------------------------------------------

def test_accepted_boot_records_station_facts_and_answers_tenant_heartbeat_interval(csms, run):
    row = acme_station(heartbeat_interval=180)
    before = timezone.now()

    [answer] = converse(csms, run, boot(
        serial_number="ACE0815443", firmware_version="6.1.0-4131",
        modem=datatypes.ModemType(iccid="8931440400012345678", imsi="262019876543210")))

    assert answer.status == "Accepted"
    assert answer.interval == 180
    assert_ocpp_utc_now(answer.current_time)
    row.refresh_from_db()
    assert (row.vendor, row.model, row.serial_number, row.firmware_version) == (
        "Alfen BV", "NG920-61001", "ACE0815443", "6.1.0-4131")
    assert row.last_boot_reason == "PowerUp"
    assert before <= row.last_boot_at <= timezone.now()
    [event] = events(row, StationEvent.Kind.BOOT)
    assert event.summary == "Accepted"
    assert event.occurred_at == row.last_boot_at
    assert event.detail["chargingStation"]["modem"] == {"iccid": "8931440400012345678",
                                                        "imsi": "262019876543210"}
    assert event.detail["reason"] == "PowerUp"


@pytest.mark.parametrize("status", [RegistrationStatus.PENDING, RegistrationStatus.REJECTED])
def test_boot_of_station_not_accepted_answers_retry_interval(csms, run, status):
    row = acme_station(heartbeat_interval=180, registration_status=status)

    [answer] = converse(csms, run, boot(reason="FirmwareUpdate", firmware_version="6.2.0"))

    assert answer.status == status.value
    assert answer.interval == settings.CSMS["BOOT_RETRY_INTERVAL"] != 180
    assert_ocpp_utc_now(answer.current_time)
    row.refresh_from_db()
    assert (row.firmware_version, row.last_boot_reason) == ("6.2.0", "FirmwareUpdate")
    assert [e.summary for e in events(row, StationEvent.Kind.BOOT)] == [status.value]


def test_operator_acceptance_applies_to_the_next_boot(csms, run):
    row = acme_station(heartbeat_interval=600, registration_status=RegistrationStatus.PENDING)

    def accept():
        Station.objects.filter(pk=row.pk).update(registration_status=RegistrationStatus.ACCEPTED)

    async def scenario():
        async with station(csms, "acme", "CS1", AL1000_KEY, version="2.0.1") as cp:
            first = await cp.call(boot())
            await in_thread_db(accept)()
            return first, await cp.call(boot())

    first, second = run(scenario())
    assert (first.status, first.interval) == ("Pending", settings.CSMS["BOOT_RETRY_INTERVAL"])
    assert (second.status, second.interval) == ("Accepted", 600)


def test_pending_station_may_report_but_not_charge(csms, run):
    row = acme_station(registration_status=RegistrationStatus.PENDING)
    make_id_tag(row.tenant, RFID)

    async def scenario():
        async with station(csms, "acme", "CS1", AL1000_KEY, version="2.0.1") as cp:
            await cp.call(boot())
            heartbeat = await cp.call(call201.Heartbeat(), suppress=False)
            await cp.call(call201.NotifyReport(
                request_id=1, generated_at="2025-06-02T08:00:00Z", seq_no=0, report_data=[{
                    "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                    "variable_attribute": [{"value": "300"}]}]), suppress=False)
            with pytest.raises(SecurityError):
                await cp.call(tx_event("Started", 0, "2025-06-02T08:15:00Z", "Authorized",
                                       id_token=rfid(), evse={"id": 1, "connector_id": 1}),
                              suppress=False)
            with pytest.raises(SecurityError):
                await cp.call(call201.Authorize(id_token=rfid()), suppress=False)
            return heartbeat

    assert_ocpp_utc_now(run(scenario()).current_time)
    assert ReportedVariable.objects.filter(station=row).count() == 1
    assert not Transaction.objects.exists()


def test_rejected_station_gets_nothing_but_boot_answers(csms, run):
    row = acme_station(registration_status=RegistrationStatus.REJECTED)

    async def scenario():
        async with station(csms, "acme", "CS1", AL1000_KEY, version="2.0.1") as cp:
            answer = await cp.call(boot(), suppress=False)
            with pytest.raises(SecurityError):
                await cp.call(call201.Heartbeat(), suppress=False)
            return answer

    assert run(scenario()).status == "Rejected"
    row.refresh_from_db()
    assert row.last_heartbeat_at is None


# --- Heartbeat, StatusNotification -------------------------------------------------------------

def test_heartbeat_records_when_the_station_was_last_alive(csms, run):
    row = acme_station()
    before = timezone.now()

    [answer] = converse(csms, run, call201.Heartbeat())

    assert_ocpp_utc_now(answer.current_time)
    # Written by the process's stamp writer within its flush period (csms/stamps.py).
    assert before <= heartbeat_written(row) <= timezone.now()


def test_status_notifications_keep_the_latest_status_per_evse_connector(csms, run):
    row = acme_station()

    converse(
        csms, run,
        call201.StatusNotification(timestamp="2025-06-02T08:00:00Z", connector_status="Available",
                                   evse_id=1, connector_id=1),
        call201.StatusNotification(timestamp="2025-06-02T08:00:00.500Z",
                                   connector_status="Available", evse_id=2, connector_id=1),
        call201.StatusNotification(timestamp="2025-06-02T08:00:01Z", connector_status="Faulted",
                                   evse_id=2, connector_id=2),
        call201.StatusNotification(timestamp="2025-06-02T10:14:58+02:00",
                                   connector_status="Occupied", evse_id=1, connector_id=1),
    )

    rows = {(s.evse_id, s.connector_id): s for s in ConnectorStatus.objects.filter(station=row)}
    assert sorted(rows) == [(1, 1), (2, 1), (2, 2)]
    assert {s.tenant_id for s in rows.values()} == {row.tenant_id}
    assert rows[1, 1].status == "Occupied"
    assert rows[1, 1].reported_at == datetime(2025, 6, 2, 8, 14, 58, tzinfo=UTC)
    assert rows[2, 1].status == "Available"
    assert rows[2, 1].reported_at == datetime(2025, 6, 2, 8, 0, 0, 500000, tzinfo=UTC)
    assert rows[2, 2].status == "Faulted"


# --- Authorize ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, expected", [
    ({}, {"status": "Accepted"}),
    ({"parent_id_tag": "FLEET-ACME-7"},
     {"status": "Accepted", "group_id_token": {"id_token": "FLEET-ACME-7", "type": "Central"}}),
    ({"expires_at": datetime(2031, 1, 1, 12, 0, tzinfo=UTC)},
     {"status": "Accepted", "cache_expiry_date_time": "2031-01-01T12:00:00Z"}),
    ({"expires_at": datetime(2024, 1, 1, tzinfo=UTC)},
     {"status": "Expired", "cache_expiry_date_time": "2024-01-01T00:00:00Z"}),
    ({"status": "Blocked"}, {"status": "Blocked"}),
    ({"status": "Invalid"}, {"status": "Invalid"}),
])
def test_authorize_answers_the_tenants_verdict_on_the_id_token(csms, run, fields, expected):
    row = acme_station()
    make_id_tag(row.tenant, RFID, **fields)

    [answer] = converse(csms, run, call201.Authorize(id_token=rfid()))

    assert answer.id_token_info == expected


def test_authorize_unknown_id_token_is_unknown(csms, run):
    row = acme_station()
    make_id_tag(row.tenant, RFID)
    [answer] = converse(csms, run, call201.Authorize(id_token=rfid("DEADBEEF0001")))
    assert answer.id_token_info == {"status": "Unknown"}


def test_id_token_is_case_insensitive(csms, run):
    # 2.0.1 IdTokenType: "IdToken is case insensitive".
    row = acme_station()
    make_id_tag(row.tenant, "DE8AAC1A2B3C4DV")
    [answer] = converse(csms, run, call201.Authorize(
        id_token=datatypes.IdTokenType(id_token="de8aac1a2b3c4dv", type="eMAID")))
    assert answer.id_token_info == {"status": "Accepted"}


def test_no_authorization_token_is_accepted(csms, run):
    # A station configured for free charging says so with type NoAuthorization; refusing
    # it would make the station end the session.
    acme_station()
    [answer] = converse(csms, run, call201.Authorize(
        id_token=datatypes.IdTokenType(id_token="", type="NoAuthorization")))
    assert answer.id_token_info["status"] == "Accepted"


def test_id_token_of_another_tenant_does_not_authorise(csms, run):
    row = acme_station()
    other = make_tenant("globex")
    make_id_tag(other, RFID)
    make_station(other, "CS1", AL1000_KEY)

    authorize, started = converse(
        csms, run, call201.Authorize(id_token=rfid()),
        tx_event("Started", 0, "2025-06-02T08:15:00Z", "Authorized", state="EVConnected",
                 id_token=rfid(), evse={"id": 1, "connector_id": 1}))
    [globex_answer] = converse(csms, run, call201.Authorize(id_token=rfid()), tenant="globex")

    assert authorize.id_token_info == {"status": "Unknown"}
    assert started.id_token_info == {"status": "Unknown"}
    tx = Transaction.objects.get()
    assert (tx.station_id, tx.tenant_id, tx.id_tag_status) == (row.pk, row.tenant_id, "Unknown")
    assert globex_answer.id_token_info == {"status": "Accepted"}


# --- TransactionEvent ------------------------------------------------------------------------

SESSION = [
    tx_event("Started", 0, "2025-06-02T08:15:00.250Z", "Authorized", state="EVConnected",
             id_token=rfid(), evse={"id": 1, "connector_id": 1}, reservation_id=77,
             meter_value=[energy(12.345, "2025-06-02T08:15:00.250Z", "Transaction.Begin")]),
    tx_event("Updated", 1, "2025-06-02T08:15:04Z", "ChargingStateChanged", state="Charging"),
    tx_event("Updated", 2, "2025-06-02T08:30:00Z", "MeterValuePeriodic", meter_value=[
        {"timestamp": "2025-06-02T08:30:00Z", "sampledValue": [
            {"value": 15.112, "context": "Sample.Periodic", "unitOfMeasure": {"unit": "kWh"}},
            {"value": 11.04, "context": "Sample.Periodic", "measurand": "Power.Active.Import",
             "unitOfMeasure": {"unit": "W", "multiplier": 3}},
            {"value": 230.7, "context": "Sample.Periodic", "measurand": "Voltage",
             "phase": "L1-N", "unitOfMeasure": {"unit": "V"}},
        ]}]),
    tx_event("Ended", 3, "2025-06-02T09:47:12Z", "EVCommunicationLost", state="Idle",
             reason="EVDisconnected",
             meter_value=[energy(19.876, "2025-06-02T09:47:12Z", "Transaction.End")]),
]


def test_transaction_events_build_one_session(csms, run):
    row = acme_station()
    make_id_tag(row.tenant, RFID)

    started, updated, periodic, ended = converse(csms, run, *SESSION)

    assert started.id_token_info == {"status": "Accepted"}
    assert updated.id_token_info is None and ended.id_token_info is None
    tx = Transaction.objects.get()
    assert (tx.tenant_id, tx.station_id, tx.station_transaction_id) == (row.tenant_id, row.pk, TX_ID)
    assert (tx.evse_id, tx.connector_id, tx.reservation_id) == (1, 1, 77)
    assert (tx.id_tag, tx.id_tag_status) == (RFID, "Accepted")
    assert tx.started_at == datetime(2025, 6, 2, 8, 15, 0, 250000, tzinfo=UTC)
    assert tx.stopped_at == datetime(2025, 6, 2, 9, 47, 12, tzinfo=UTC)
    assert (tx.stop_reason, tx.charging_state, tx.last_seq_no) == ("EVDisconnected", "Idle", 3)
    assert tx.meter_start_wh == Decimal("12345")  # 12.345 kWh
    assert tx.meter_stop_wh == Decimal("19876")
    assert tx.energy_wh == Decimal("7531")
    readings = list(MeterValue.objects.filter(transaction=tx).order_by("timestamp"))
    assert [r.timestamp for r in readings] == [
        at("2025-06-02T08:15:00.250Z"), at("2025-06-02T08:30:00Z"), at("2025-06-02T09:47:12Z")]
    assert {(r.evse_id, r.connector_id, r.station_id) for r in readings} == {(1, 1, row.pk)}
    assert readings[1].sampled_values[1] == {
        "value": 11.04, "context": "Sample.Periodic", "measurand": "Power.Active.Import",
        "unitOfMeasure": {"unit": "W", "multiplier": 3}}
    assert readings[1].sampled_values[0]["value"] == 15.112


def test_out_of_order_transaction_events_build_the_same_session(csms, run):
    # A station back from offline may deliver its queue in any order.
    row = acme_station()
    make_id_tag(row.tenant, RFID)
    started, updated, periodic, ended = SESSION

    converse(csms, run, ended, periodic, started, updated)

    tx = Transaction.objects.get(station=row)
    assert tx.started_at == datetime(2025, 6, 2, 8, 15, 0, 250000, tzinfo=UTC)
    assert tx.stopped_at == datetime(2025, 6, 2, 9, 47, 12, tzinfo=UTC)
    assert (tx.evse_id, tx.connector_id, tx.id_tag, tx.id_tag_status) == (1, 1, RFID, "Accepted")
    assert tx.stop_reason == "EVDisconnected"
    # State comes from the newest event, not the last one to arrive.
    assert (tx.charging_state, tx.last_seq_no) == ("Idle", 3)
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (12345, 19876, 7531)
    assert MeterValue.objects.filter(transaction=tx).count() == 3


def test_ended_event_arriving_first_opens_the_session_it_closes(csms, run):
    row = acme_station()
    [answer] = converse(csms, run, SESSION[3])
    assert answer.id_token_info is None
    tx = Transaction.objects.get(station=row)
    assert not tx.is_active
    assert (tx.station_transaction_id, tx.meter_stop_wh, tx.meter_start_wh) == (TX_ID, 19876, None)
    assert tx.started_at is not None  # the earliest moment we know of, until Started arrives


def test_the_session_keeps_the_token_that_started_it(csms, run):
    row = acme_station()
    make_id_tag(row.tenant, RFID)
    make_id_tag(row.tenant, "04FF00112233", status="Blocked")

    started, ended = converse(
        csms, run, SESSION[0],
        tx_event("Ended", 1, "2025-06-02T09:00:00Z", "StopAuthorized", reason="Local",
                 id_token=rfid("04FF00112233")))

    assert started.id_token_info == {"status": "Accepted"}
    assert ended.id_token_info == {"status": "Blocked"}
    tx = Transaction.objects.get(station=row)
    assert (tx.id_tag, tx.id_tag_status, tx.stop_reason) == (RFID, "Accepted", "Local")


def test_retransmitted_transaction_events_are_not_counted_twice(csms, run):
    # 2.0.1 delivers transaction messages at least once: a station that got no answer
    # sends the same event again (here on a new connection).
    row = acme_station()
    make_id_tag(row.tenant, RFID)

    converse(csms, run, *SESSION[:3])
    started, periodic = converse(csms, run, SESSION[0], SESSION[2])
    converse(csms, run, SESSION[3], SESSION[3])

    assert started.id_token_info == {"status": "Accepted"}
    tx = Transaction.objects.get(station=row)
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.last_seq_no) == (12345, 19876, 3)
    assert tx.stopped_at == datetime(2025, 6, 2, 9, 47, 12, tzinfo=UTC)
    assert MeterValue.objects.filter(transaction=tx).count() == 3


def test_transaction_ids_are_per_station(csms, run):
    # 2.0.1 stations name their own transactions: two stations may pick the same id.
    row = acme_station("CS1")
    make_station(row.tenant, "CS2", AL1000_KEY)

    converse(csms, run, SESSION[0])
    converse(csms, run, SESSION[3], identity="CS2")

    mine = Transaction.objects.get(station=row)
    theirs = Transaction.objects.get(station__identity="CS2")
    assert mine.station_transaction_id == theirs.station_transaction_id == TX_ID
    assert mine.is_active and not theirs.is_active
    assert (mine.meter_start_wh, mine.meter_stop_wh) == (12345, None)
    assert (theirs.meter_start_wh, theirs.meter_stop_wh) == (None, 19876)


@pytest.mark.parametrize("samples, expected_wh", [
    ([{"value": 19.876, "unitOfMeasure": {"unit": "kWh"}}], Decimal("19876")),
    ([{"value": 19.876, "unitOfMeasure": {"unit": "Wh", "multiplier": 3}}], Decimal("19876")),
    ([{"value": 19876.5}], Decimal("19876.5")),  # defaults: energy register in Wh
    # Phase readings and other measurands never count as the register.
    ([{"value": 19876, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
      {"value": 6625.1, "measurand": "Energy.Active.Import.Register", "phase": "L1",
       "unitOfMeasure": {"unit": "Wh"}},
      {"value": 0.0, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}}],
     Decimal("19876")),
])
def test_end_register_reading_in_any_unit(csms, run, samples, expected_wh):
    row = acme_station()
    end = [{"timestamp": "2025-06-02T09:47:12Z",
            "sampledValue": [dict(s, context="Transaction.End") for s in samples]}]

    converse(csms, run,
             tx_event("Started", 0, "2025-06-02T08:15:00Z", "CablePluggedIn", state="EVConnected",
                      evse={"id": 2, "connector_id": 1},
                      meter_value=[energy(12345, "2025-06-02T08:15:00Z", "Transaction.Begin",
                                          unit="Wh")]),
             tx_event("Ended", 1, "2025-06-02T09:47:12Z", "EVDeparted", reason="EVDisconnected",
                      meter_value=end))

    tx = Transaction.objects.get(station=row)
    assert tx.meter_start_wh == 12345
    assert tx.meter_stop_wh == expected_wh
    assert tx.evse_id == 2


def test_transaction_with_an_unknown_token_is_recorded_as_unknown(csms, run):
    row = acme_station()
    [answer] = converse(csms, run, tx_event(
        "Started", 0, "2025-06-02T08:15:00Z", "Authorized", state="EVConnected",
        id_token=rfid("DEADBEEF0001"), evse={"id": 1, "connector_id": 1}))
    assert answer.id_token_info == {"status": "Unknown"}
    tx = Transaction.objects.get(station=row)
    assert (tx.id_tag, tx.id_tag_status, tx.charging_state) == ("DEADBEEF0001", "Unknown",
                                                                "EVConnected")


# --- MeterValues, NotifyReport ------------------------------------------------------------------

def test_meter_values_outside_a_transaction_are_kept_as_sent(csms, run):
    row = acme_station()
    meter_value = [{"timestamp": "2025-06-02T07:00:00Z", "sampledValue": [
        {"value": 104233.825, "context": "Sample.Clock", "unitOfMeasure": {"unit": "kWh"},
         "location": "Inlet"},
        {"value": 229.9, "context": "Sample.Clock", "measurand": "Voltage", "phase": "L2-N",
         "unitOfMeasure": {"unit": "V"}},
        {"value": 49.98, "context": "Sample.Clock", "measurand": "Frequency"},
    ]}]

    converse(csms, run, call201.MeterValues(evse_id=0, meter_value=meter_value),
             call201.MeterValues(evse_id=2, meter_value=[
                 energy(52.5, "2025-06-02T07:00:00Z", "Sample.Clock")]))

    whole, evse2 = MeterValue.objects.filter(station=row).order_by("evse_id")
    assert (whole.evse_id, whole.transaction_id, whole.tenant_id) == (0, None, row.tenant_id)
    assert whole.timestamp == datetime(2025, 6, 2, 7, 0, tzinfo=UTC)
    assert whole.sampled_values == meter_value[0]["sampledValue"]
    assert whole.sampled_values[0]["value"] == 104233.825
    assert (evse2.evse_id, evse2.transaction_id) == (2, None)
    assert evse2.sampled_values[0]["value"] == 52.5


def test_notify_report_upserts_one_row_per_variable_attribute(csms, run):
    row = acme_station()
    report = [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"},
         "variable_attribute": [{"type": "Actual", "value": "2", "mutability": "ReadOnly"}],
         "variable_characteristics": {"data_type": "integer", "supports_monitoring": False}},
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
         "variable_attribute": [{"type": "Actual", "value": "0", "mutability": "ReadOnly"},
                                {"type": "MaxSet", "value": "22000", "mutability": "ReadOnly"}],
         "variable_characteristics": {"unit": "W", "data_type": "decimal", "max_limit": 22000.0,
                                      "supports_monitoring": True}},
        {"component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
         "variable": {"name": "ConnectorType"},
         "variable_attribute": [{"value": "cType2", "mutability": "ReadOnly"}]},
        {"component": {"name": "TokenReader", "instance": "front"},
         "variable": {"name": "Enabled"},
         "variable_attribute": [{"type": "Actual", "value": "true", "mutability": "ReadWrite"}]},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
         "variable_attribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite",
                                 "persistent": True}]},
    ]
    update = [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
               "variable_attribute": [{"type": "Actual", "value": "120", "mutability": "ReadWrite"}]}]

    converse(csms, run,
             call201.NotifyReport(request_id=5, generated_at="2025-06-02T08:00:00Z", seq_no=0,
                                  tbc=True, report_data=report[:3]),
             call201.NotifyReport(request_id=5, generated_at="2025-06-02T08:00:00Z", seq_no=1,
                                  report_data=report[3:]),
             call201.NotifyReport(request_id=6, generated_at="2025-06-02T09:00:00Z", seq_no=0,
                                  report_data=update))

    rows = {(v.component, v.component_instance, v.evse_id, v.connector_id, v.variable,
             v.attribute_type): v for v in ReportedVariable.objects.filter(station=row)}
    assert sorted(rows) == sorted([
        ("Connector", "", 1, 1, "ConnectorType", "Actual"),
        ("EVSE", "", 1, 0, "Power", "Actual"),
        ("EVSE", "", 1, 0, "Power", "MaxSet"),
        ("OCPPCommCtrlr", "", 0, 0, "HeartbeatInterval", "Actual"),
        ("SecurityCtrlr", "", 0, 0, "SecurityProfile", "Actual"),
        ("TokenReader", "front", 0, 0, "Enabled", "Actual"),
    ])
    heartbeat = rows["OCPPCommCtrlr", "", 0, 0, "HeartbeatInterval", "Actual"]
    assert (heartbeat.value, heartbeat.mutability, heartbeat.report_request_id) == ("120", "ReadWrite", 6)
    max_power = rows["EVSE", "", 1, 0, "Power", "MaxSet"]
    assert (max_power.value, max_power.report_request_id) == ("22000", 5)
    assert max_power.characteristics == {"unit": "W", "dataType": "decimal", "maxLimit": 22000,
                                         "supportsMonitoring": True}
    assert rows["SecurityCtrlr", "", 0, 0, "SecurityProfile", "Actual"].value == "2"
    assert {v.tenant_id for v in rows.values()} == {row.tenant_id}


# --- DataTransfer and notifications ------------------------------------------------------------

def test_data_transfer_is_recorded_and_answered_unknown_vendor(csms, run):
    row = acme_station()
    data = {"connector": 1, "maxCurrent": 16.5, "phases": [1, 2, 3]}

    [answer] = converse(csms, run, call201.DataTransfer(
        vendor_id="com.alfen", message_id="LoadBalancing", data=data))

    assert answer.status == "UnknownVendorId"
    [event] = events(row, StationEvent.Kind.DATA_TRANSFER)
    assert event.summary == "com.alfen"
    assert event.detail == {"vendorId": "com.alfen", "messageId": "LoadBalancing", "data": data}


def test_security_event_is_filed_with_the_stations_timestamp(csms, run):
    row = acme_station()

    converse(csms, run, call201.SecurityEventNotification(
        type="SettingSystemTime", timestamp="2025-06-02T03:12:45.001Z",
        tech_info="clock moved by +3612 s"))

    [event] = events(row, StationEvent.Kind.SECURITY_EVENT)
    assert event.summary == "SettingSystemTime"
    assert event.occurred_at == datetime(2025, 6, 2, 3, 12, 45, 1000, tzinfo=UTC)
    assert event.detail["techInfo"] == "clock moved by +3612 s"


def test_firmware_and_log_progress_is_filed_with_request_ids(csms, run):
    row = acme_station()

    converse(
        csms, run,
        call201.FirmwareStatusNotification(status="Downloading", request_id=12),
        call201.FirmwareStatusNotification(status="Installed", request_id=12),
        call201.FirmwareStatusNotification(status="Idle"),
        call201.LogStatusNotification(status="Uploading", request_id=3),
        call201.LogStatusNotification(status="UploadFailure", request_id=3),
    )

    firmware = events(row, StationEvent.Kind.FIRMWARE_STATUS)
    assert [(e.summary, e.request_id) for e in firmware] == [
        ("Downloading", 12), ("Installed", 12), ("Idle", None)]
    logs = events(row, StationEvent.Kind.LOG_STATUS)
    assert [(e.summary, e.request_id) for e in logs] == [("Uploading", 3), ("UploadFailure", 3)]
    assert {e.tenant_id for e in firmware + logs} == {row.tenant_id}


def test_notify_event_is_filed_with_its_event_data(csms, run):
    row = acme_station()
    event_data = [{
        "event_id": 4021, "timestamp": "2025-06-02T06:40:11Z", "trigger": "Delta",
        "actual_value": "true", "event_notification_type": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
        "variable": {"name": "Problem"}, "tech_code": "E-0x2F", "cleared": False,
    }]

    converse(csms, run, call201.NotifyEvent(generated_at="2025-06-02T06:40:12Z", seq_no=0,
                                            event_data=event_data))

    [event] = events(row, StationEvent.Kind.NOTIFY_EVENT)
    assert event.occurred_at == datetime(2025, 6, 2, 6, 40, 12, tzinfo=UTC)
    [data] = event.detail["eventData"]
    assert (data["eventId"], data["actualValue"], data["techCode"]) == (4021, "true", "E-0x2F")
    assert data["component"] == {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    assert event.summary == "Connector.Problem=true (Delta)"


# --- connections without a BootNotification ----------------------------------------------------

def test_reconnecting_station_is_served_without_a_new_boot(csms, run):
    row = acme_station()
    make_id_tag(row.tenant, RFID)
    converse(csms, run, boot(firmware_version="6.1.0"))
    row.refresh_from_db()
    booted_at = row.last_boot_at

    heartbeat, _, started = converse(
        csms, run,
        call201.Heartbeat(),
        call201.StatusNotification(timestamp="2025-06-02T08:14:58Z", connector_status="Occupied",
                                   evse_id=1, connector_id=1),
        SESSION[0])

    assert_ocpp_utc_now(heartbeat.current_time)
    assert started.id_token_info == {"status": "Accepted"}
    heartbeat_written(row)
    row.refresh_from_db()
    assert row.last_boot_at == booted_at
    assert ConnectorStatus.objects.get(station=row).status == "Occupied"
    assert Transaction.objects.get(station=row).station_transaction_id == TX_ID
    assert len(events(row, StationEvent.Kind.BOOT)) == 1


def test_station_that_never_booted_here_is_served(csms, run):
    row = acme_station()

    heartbeat, _ = converse(
        csms, run, call201.Heartbeat(),
        call201.StatusNotification(timestamp="2025-06-02T08:00:00Z", connector_status="Available",
                                   evse_id=1, connector_id=1))

    assert_ocpp_utc_now(heartbeat.current_time)
    heartbeat_written(row)
    row.refresh_from_db()
    assert row.last_boot_at is None
    assert ConnectorStatus.objects.get(station=row).status == "Available"

"""Values a station sends that the schemas admit but no column can hold (issue 8, items 6-8).

Hand-made frames over a real WebSocket to the live CSMS: every such value gets the spec's
CALLERROR and leaves nothing unreadable behind; a NUL byte is refused alike on SQLite
and PostgreSQL, over OCPP and over HTTP.
"""
import asyncio
import base64
import json
import urllib.error
import urllib.request

import pytest
import websockets
from django.contrib.auth import get_user_model

from csms import services
from csms.models import ConnectorStatus, MeterValue, StationCall, StationEvent, Transaction
from tenants.models import Membership, Role
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import open_socket, raw_station
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)

V16, V201 = "ocpp1.6", "ocpp2.0.1"
PROPERTY = "PropertyConstraintViolation"
NOW = "2024-05-01T10:00:00Z"


def start16(**fields):
    return {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": NOW, **fields}


def event201(sampled=None, **fields):
    payload = {"eventType": "Started", "timestamp": NOW, "triggerReason": "CablePluggedIn",
               "seqNo": 0, "transactionInfo": {"transactionId": "TX-1"}, **fields}
    if sampled is not None:
        payload["meterValue"] = [{"timestamp": NOW, "sampledValue": [sampled]}]
    return payload


def status(protocol, timestamp=NOW, **fields):
    if protocol == V16:
        return {"connectorId": 1, "errorCode": "NoError", "status": "Available",
                "timestamp": timestamp, **fields}
    return {"timestamp": timestamp, "connectorStatus": "Available", "evseId": 1, "connectorId": 1,
            **fields}


def ask(csms, run, protocol, *calls):
    """Send (action, payload) CALLs on one connection; the answers.

    A payload may be raw JSON text, or a function of the answers so far."""
    tenant = make_tenant("acme")
    make_station(tenant, "CP1", AL1000_KEY)

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY, protocol=protocol) as st:
            answers = []
            for n, (action, payload) in enumerate(calls):
                if callable(payload):
                    payload = payload(answers)
                body = payload if isinstance(payload, str) else json.dumps(payload)
                answers.append(await st.exchange(f'[2,"m{n}","{action}",{body}]'))
            return answers

    return run(scenario())


def assert_refused(answer, code=PROPERTY):
    assert answer[0] == 4 and answer[2] == code, answer


@pytest.fixture
def new_log(csms):
    """What the shared server logs from the start of the test on."""
    mark = len(csms.log())
    return lambda: csms.log()[mark:]


def assert_no_traceback(new_log):
    log = new_log()
    assert "Traceback" not in log and "InternalError" not in log and " ERROR " not in log, log[-3000:]


# --- item 6: numbers out of range --------------------------------------------------------------

def test_a_meter_start_beyond_the_register_is_refused_and_nothing_is_stored(csms, run):
    [answer] = ask(csms, run, V16, ("StartTransaction", start16(meterStart=10**21)))
    assert_refused(answer)
    assert answer[4]["field"] == "meterStart"
    assert not Transaction.objects.exists()


def test_a_meter_start_above_32_bits_still_works_on_1_6(csms, run):
    # A busy DC charger's lifetime register passes 2^31 Wh (2.1 GWh): not a reason to refuse.
    [answer] = ask(csms, run, V16, ("StartTransaction", start16(meterStart=5 * 10**11)))
    assert answer[0] == 3, answer
    assert Transaction.objects.get().meter_start_wh == 5 * 10**11


LARGEST_REGISTER = 10**12 - 1  # 12 digits: what a double (SQLite's REAL) keeps exactly, with 3 places


@pytest.mark.parametrize("register", [LARGEST_REGISTER, 123456789012, -LARGEST_REGISTER])
def test_the_largest_registers_round_trip_exactly_and_the_admin_shows_them(csms, run, new_log,
                                                                           admin_client, register):
    # 17 digits were documented as valid: on SQLite 99999999999999999 was stored, then the
    # StopTransaction and the admin pages failed (InvalidOperation reading it back), and
    # 12345678901234567 came back as 12345678901234600.
    answers = ask(csms, run, V16, ("StartTransaction", start16(meterStart=register)),
                  ("StopTransaction", lambda answers: {
                      "transactionId": answers[0][2]["transactionId"], "meterStop": register,
                      "timestamp": NOW, "transactionData": [{"timestamp": NOW, "sampledValue": [
                          {"value": str(register), "context": "Transaction.End"}]}]}))
    assert [a[0] for a in answers] == [3, 3], answers
    tx = Transaction.objects.get()
    assert (tx.meter_start_wh, tx.meter_stop_wh) == (register, register)
    assert str(tx.meter_stop_wh) == f"{register}.000"
    assert admin_client.get("/admin/csms/transaction/").status_code == 200
    assert admin_client.get(f"/admin/csms/transaction/{tx.pk}/change/").status_code == 200
    reading = MeterValue.objects.get()
    assert admin_client.get(f"/admin/csms/metervalue/{reading.pk}/change/").status_code == 200
    assert_no_traceback(new_log)


@pytest.mark.parametrize("field", ["meterStart", "meterStop"])
def test_one_digit_more_than_the_register_is_a_property_violation(csms, run, new_log, field):
    too_big = LARGEST_REGISTER + 1
    calls = [("StartTransaction", start16(meterStart=too_big if field == "meterStart" else 0))]
    if field == "meterStop":
        calls.append(("StopTransaction", lambda answers: {
            "transactionId": answers[0][2]["transactionId"], "meterStop": too_big, "timestamp": NOW}))
    answers = ask(csms, run, V16, *calls)
    assert_refused(answers[-1])
    assert answers[-1][4] == {"field": field, "constraint": "range"}
    assert_no_traceback(new_log)


HUGE = "1E+999999999999999999"


@pytest.mark.parametrize("unit", ["kWh", "Wh", None])
@pytest.mark.parametrize("value", [HUGE, "-" + HUGE, "1E-999999999999999999"])
def test_a_1_6_reading_with_any_exponent_is_a_property_violation(csms, run, new_log, unit, value):
    # 1E+999999999999999999 kWh raised decimal.Overflow inside the register arithmetic:
    # InternalError, and a StopTransaction carrying it failed on every retry.
    sampled = {"value": value, "measurand": "Energy.Active.Import.Register"}
    if unit:
        sampled["unit"] = unit
    answers = ask(csms, run, V16, ("StartTransaction", start16()),
                  ("MeterValues", lambda answers: {
                      "connectorId": 1, "transactionId": answers[0][2]["transactionId"],
                      "meterValue": [{"timestamp": NOW, "sampledValue": [sampled]}]}),
                  ("StopTransaction", lambda answers: {
                      "transactionId": answers[0][2]["transactionId"], "meterStop": 1, "timestamp": NOW,
                      "transactionData": [{"timestamp": NOW, "sampledValue": [sampled]}]}))
    assert answers[0][0] == 3, answers
    for answer, where in ((answers[1], "meterValue"), (answers[2], "transactionData")):
        assert_refused(answer)
        assert answer[4]["field"] == f"{where}/0/sampledValue/0/value", answer
    assert not MeterValue.objects.exists()
    assert Transaction.objects.get().stopped_at is None
    assert_no_traceback(new_log)


@pytest.mark.parametrize("value", ["1e4000", "-1e400", "1e309"])
def test_a_2_0_1_number_beyond_a_double_is_refused(csms, run, value):
    sampled = f'{{"value":{value},"context":"Transaction.Begin"}}'
    payload = json.dumps(event201()).replace(
        '"transactionInfo"', f'"meterValue":[{{"timestamp":"{NOW}","sampledValue":[{sampled}]}}],'
                             '"transactionInfo"')
    [answer] = ask(csms, run, V201, ("TransactionEvent", payload))
    assert_refused(answer)
    assert not MeterValue.objects.exists() and not Transaction.objects.exists()


@pytest.mark.parametrize("sampled", [
    {"value": 1e20, "context": "Transaction.Begin"},  # fits a double, not the Wh column
    {"value": 1, "context": "Transaction.Begin", "unitOfMeasure": {"multiplier": 999999999}},
    {"value": 1, "context": "Transaction.End", "unitOfMeasure": {"unit": "kWh", "multiplier": 15}},
])
def test_a_2_0_1_energy_reading_that_does_not_fit_the_register_is_refused(csms, run, sampled):
    [answer] = ask(csms, run, V201, ("TransactionEvent", event201(sampled)))
    assert_refused(answer)
    assert not MeterValue.objects.exists() and not Transaction.objects.exists()


@pytest.mark.parametrize("value", ["1e30", "NaN", "Infinity", "-Infinity", "sNaN"])
def test_a_1_6_energy_string_that_is_no_register_reading_is_refused(csms, run, value):
    def tx(answers):
        return {"connectorId": 1, "transactionId": answers[0][2]["transactionId"],
                "meterValue": [{"timestamp": NOW, "sampledValue": [
                    {"value": value, "context": "Transaction.Begin"}]}]}

    answers = ask(csms, run, V16, ("StartTransaction", start16()),
                  ("MeterValues", tx))
    assert answers[0][0] == 3
    assert_refused(answers[1])
    assert not MeterValue.objects.exists()
    assert Transaction.objects.get().meter_start_wh == 0


def test_transactions_stay_readable_after_refused_values(csms, run):
    ask(csms, run, V16, ("StartTransaction", start16(meterStart=10**21)),
        ("StartTransaction", start16(meterStart=1234)),
        ("StopTransaction", lambda answers: {"transactionId": answers[1][2]["transactionId"],
                                             "meterStop": 10**25, "timestamp": NOW}))
    [tx] = Transaction.objects.all()
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.stopped_at) == (1234, None, None)


@pytest.mark.parametrize("limit", ["1E-20000000", "1e4000"])
def test_an_answer_with_a_number_beyond_any_double_is_refused_without_stalling(csms, run, new_log,
                                                                               limit):
    # The review's bomb: `station call ... GetCompositeSchedule`, answered with limit
    # 1E-20000000 (multipleOf 0.1) froze the whole process for 29 s. Now it is refused at
    # once, like 1e4000 always was, and the station's next Heartbeat is answered.
    tenant = make_tenant("acme")
    row = make_station(tenant, "CP1", AL1000_KEY, ocpp_version="ocpp1.6")
    call = services.queue_call(row, "GetCompositeSchedule", {"connectorId": 1, "duration": 60},
                               requested_by="test")

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            frame = await st.recv(timeout=10)
            assert frame[2] == "GetCompositeSchedule", frame
            period = '{"startPeriod":0,"limit":' + limit + "}"
            await st.send(f'[3,"{frame[1]}",{{"status":"Accepted","connectorId":1,"chargingSchedule":'
                          f'{{"chargingRateUnit":"W","chargingSchedulePeriod":[{period}]}}}}]')
            started = asyncio.get_running_loop().time()
            heartbeat = await st.exchange('[2,"hb","Heartbeat",{}]', timeout=10)
            return heartbeat, asyncio.get_running_loop().time() - started

    heartbeat, seconds = run(scenario())
    assert heartbeat[:2] == [3, "hb"] and seconds < 2, (heartbeat, seconds)
    call = eventually(lambda: StationCall.objects.filter(pk=call.pk, state=StationCall.State.ERROR).first())
    assert call.error_code == PROPERTY
    assert "chargingSchedulePeriod/0/limit: is beyond the range of a number" in call.error_description
    assert_no_traceback(new_log)


# --- item 7: extreme but schema-valid values ----------------------------------------------------

EXTREME_TIMES = ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                 "2024-02-30T10:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T10:00:00+24:00",
                 "99999-01-01T00:00:00Z", "2024-05-01T10:00:00.1234567890123Z", "yesterday", ""]


@pytest.mark.parametrize("protocol", [V16, V201])
@pytest.mark.parametrize("timestamp", EXTREME_TIMES)
def test_an_unrepresentable_time_is_a_property_violation(csms, run, new_log, protocol, timestamp):
    [answer] = ask(csms, run, protocol, ("StatusNotification", status(protocol, timestamp)))
    if timestamp == "2024-05-01T10:00:00.1234567890123Z":
        assert answer[0] == 3, answer  # sub-microsecond digits are dropped, not refused
        return
    assert_refused(answer)
    assert answer[4]["field"] == "timestamp"
    assert not ConnectorStatus.objects.exists()
    assert_no_traceback(new_log)


@pytest.mark.parametrize("timestamp, stored", [
    ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999+00:00"),  # a leap second
    ("2024-05-01T10:00:00+05:30", "2024-05-01T04:30:00+00:00"),
    ("2024-05-01T10:00:00", "2024-05-01T10:00:00+00:00"),  # naive: read as UTC
    ("0001-01-03T00:00:00Z", "0001-01-03T00:00:00+00:00"),
    ("9999-12-29T23:59:59.999Z", "9999-12-29T23:59:59.999000+00:00"),
])
def test_extreme_but_representable_times_are_kept(csms, run, timestamp, stored):
    [answer] = ask(csms, run, V16, ("StatusNotification", status(V16, timestamp)))
    assert answer[0] == 3, answer
    assert ConnectorStatus.objects.get().reported_at.isoformat() == stored


@pytest.mark.parametrize("protocol, action, payload, field", [
    (V201, "TransactionEvent", event201(seqNo=10**20), "seqNo"),
    (V201, "TransactionEvent", event201(seqNo=-1, reservationId=2**31), "reservationId"),
    (V201, "TransactionEvent", event201(evse={"id": -1}), "evse/id"),
    (V201, "StatusNotification", status(V201, evseId=-5), "evseId"),
    (V16, "StatusNotification", status(V16, connectorId=-1), "connectorId"),
    (V16, "StatusNotification", status(V16, connectorId=2**31), "connectorId"),
    (V16, "StopTransaction", {"transactionId": 10**20, "meterStop": 0, "timestamp": NOW},
     "transactionId"),
    (V16, "LogStatusNotification", {"status": "Idle", "requestId": -2**63}, "requestId"),
])
def test_integers_outside_their_column_are_property_violations(csms, run, new_log, protocol, action, payload,
                                                                field):
    [answer] = ask(csms, run, protocol, (action, payload))
    assert_refused(answer)
    assert answer[4]["field"] == field
    assert not Transaction.objects.exists() and not ConnectorStatus.objects.exists()
    assert_no_traceback(new_log)


def test_negative_multipliers_and_32_bit_extremes_work(csms, run):
    sampled = {"value": 123456, "context": "Transaction.Begin",
               "unitOfMeasure": {"unit": "Wh", "multiplier": -3}}
    answers = ask(csms, run, V201,
                  ("TransactionEvent", event201(sampled, seqNo=2**31 - 1, reservationId=-2**31)))
    assert answers[0][0] == 3, answers
    tx = Transaction.objects.get()
    assert (tx.last_seq_no, tx.reservation_id, str(tx.meter_start_wh)) == (2**31 - 1, -2**31, "123.456")


# --- item 8: NUL ---------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol, action, payload", [
    (V16, "StatusNotification", status(V16, info="a\u0000b")),
    (V16, "DataTransfer", {"vendorId": "acme\u0000", "data": "x"}),
    (V16, "DataTransfer", {"vendorId": "acme", "data": "\u0000"}),
    (V201, "BootNotification", {"reason": "PowerUp",
                                "chargingStation": {"model": "M\u0000", "vendorName": "V"}}),
    (V201, "StatusNotification", status(V201, customData={"vendorId": "v", "x\u0000": 1})),
])
def test_a_nul_in_a_string_field_is_a_property_violation_on_every_backend(csms, run, new_log, protocol,
                                                                         action, payload):
    [answer] = ask(csms, run, protocol, (action, payload))
    assert_refused(answer)
    assert not StationEvent.objects.exists() and not ConnectorStatus.objects.exists()
    assert_no_traceback(new_log)


def test_a_nul_in_the_station_path_is_an_unknown_station(csms, run, new_log):
    tenant = make_tenant("demo")
    make_station(tenant, "AL1000", AL1000_KEY)

    async def handshake(url):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=10)
        return refused.value.response.status_code

    for path in ("/ocpp/demo/AL1000%00", "/ocpp/de%00mo/AL1000", "/ocpp/demo/%00"):
        assert run(handshake(csms.ws + path)) == 404, path
    assert_no_traceback(new_log)


def test_a_nul_in_a_basic_identity_is_refused_like_any_wrong_credentials(csms, run, new_log):
    tenant = make_tenant("demo")
    make_station(tenant, "AL1000", AL1000_KEY)

    async def handshake():
        with pytest.raises(websockets.InvalidStatus) as refused:
            await open_socket(csms, "demo", "AL1000", None,
                              headers={"Authorization": "Basic " + base64.b64encode(
                                  b"AL1000\x00:" + AL1000_KEY).decode()})
        return refused.value.response.status_code

    assert run(handshake()) == 401
    assert_no_traceback(new_log)


def _get(csms, path, user: bytes, password: bytes):
    request = urllib.request.Request(csms.http + path, headers={
        "Authorization": "Basic " + base64.b64encode(user + b":" + password).decode()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_nul_over_the_rest_api_is_401_or_404_not_a_server_error(csms, new_log):
    tenant = make_tenant("demo")
    make_station(tenant, "AL1000", AL1000_KEY)
    user = get_user_model().objects.create_user("ops", password="pw-123456789-abc")
    Membership.objects.create(user=user, tenant=tenant, role=Role.VIEWER)
    good = b"pw-123456789-abc"
    assert _get(csms, "/api/v1/tenants/demo/stations/AL1000/", b"ops", good) == 200
    assert _get(csms, "/api/v1/tenants/demo/stations/", b"ops\x00", good) == 401
    assert _get(csms, "/api/v1/tenants/demo/stations/", b"ops", b"pw\x00") == 401
    assert _get(csms, "/api/v1/tenants/demo/stations/AL1000%00/", b"ops", good) == 404
    assert _get(csms, "/api/v1/tenants/demo/stations/AL1000%00/rotations/", b"ops", good) == 404
    assert_no_traceback(new_log)


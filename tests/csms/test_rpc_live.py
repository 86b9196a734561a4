"""The OCPP-J RPC rules as a station sees them: hand-made frames over a real WebSocket
to the live CSMS, for both ocpp1.6 and ocpp2.0.1 (OCPP-J 1.6 §4, 2.0.1 part 4 §4)."""
import json

import pytest

from csms.models import Station, StationCall, Transaction
from csms.services import queue_call
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import raw_station
from tests.waiting import async_eventually, in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)

V16, V201 = "ocpp1.6", "ocpp2.0.1"
PROTOCOLS = pytest.mark.parametrize("protocol", [V16, V201])

INVALID_JSON = {V16: "FormationViolation", V201: "FormatViolation"}
BAD_FRAME = {V16: "FormationViolation", V201: "RpcFrameworkError"}
PAYLOAD_SYNTAX = {V16: "FormationViolation", V201: "FormatViolation"}
INCOMPLETE = {V16: "ProtocolError", V201: "OccurrenceConstraintViolation"}
OCCURRENCE = {V16: "OccurenceConstraintViolation", V201: "OccurrenceConstraintViolation"}
VALID_CODES = {
    V16: {"NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
          "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
          "TypeConstraintViolation", "GenericError"},
    V201: {"FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
           "NotImplemented", "NotSupported", "OccurrenceConstraintViolation",
           "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError", "SecurityError",
           "TypeConstraintViolation"},
}

BOOT = {V16: {"chargePointVendor": "VendorX", "chargePointModel": "SingleSocketCharger"},
        V201: {"reason": "PowerUp",
               "chargingStation": {"model": "SingleSocketCharger", "vendorName": "VendorX"}}}
STATUS = {V16: {"connectorId": 1, "errorCode": "NoError", "status": "Available",
                "timestamp": "2024-05-01T10:00:00Z"},
          V201: {"timestamp": "2024-05-01T10:00:00Z", "connectorStatus": "Available",
                 "evseId": 1, "connectorId": 1}}


def meter_values(protocol, sampled):
    mv = [{"timestamp": "2024-05-01T10:00:00Z", "sampledValue": sampled}]
    return {"connectorId": 1, "meterValue": mv} if protocol == V16 else {"evseId": 1, "meterValue": mv}


def connect(csms, protocol, identity="CP1", **station_fields):
    """Create the station (real rows) and return a factory for its raw connection."""
    tenant = make_tenant("acme")
    make_station(tenant, identity, AL1000_KEY, **station_fields)
    return lambda: raw_station(csms, "acme", identity, AL1000_KEY, protocol=protocol)


def assert_call_error(frame, protocol, message_id, code):
    """`frame` is a well-formed CALLERROR of `protocol` with this id and code."""
    assert isinstance(frame, list) and len(frame) == 5, frame
    assert frame[0] == 4, frame
    assert frame[1] == message_id, frame
    assert frame[2] == code, frame
    assert frame[2] in VALID_CODES[protocol]
    assert isinstance(frame[3], str), frame
    assert isinstance(frame[4], dict), frame  # "you MUST fill in an empty object {}"
    if protocol == V201:
        assert len(frame[3]) <= 255


async def assert_usable(st, message_id="hb-after"):
    """The connection still serves a plain Heartbeat."""
    answer = await st.exchange([2, message_id, "Heartbeat", {}])
    assert answer[:2] == [3, message_id], answer
    assert set(answer[2]) == {"currentTime"}
    assert answer[2]["currentTime"].endswith("Z")


# --- frames that are not JSON, or not RPC frames -------------------------------------------

@PROTOCOLS
@pytest.mark.parametrize("text", [
    "not json", "[2, \"a\", \"Heartbeat\"", "[2,'a','Heartbeat',{}]",
    "[2,\"nan-1\",\"Heartbeat\",{\"x\":NaN}]", "[2,\"inf-1\",\"DataTransfer\",Infinity]",
    "[2,\"t-1\",\"Heartbeat\",{}] []",
])
def test_invalid_json_gets_callerror_with_minus_one(csms, run, protocol, text):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            assert_call_error(await st.exchange(text), protocol, "-1", INVALID_JSON[protocol])
            answer = await st.exchange(text)
            assert answer[4] == {}
            await assert_usable(st)

    run(scenario())


@PROTOCOLS
@pytest.mark.parametrize("frame, echoed", [
    ({"messageTypeId": 2}, "-1"),
    ("[]", "-1"),
    ("\"Heartbeat\"", "-1"),
    ("42", "-1"),
    ("null", "-1"),
    (["2", "s-1", "Heartbeat", {}], "s-1"),      # type number as a string
    ([True, "s-2", "Heartbeat", {}], "s-2"),      # a boolean is not a number
    ([2.5, "s-3", "Heartbeat", {}], "s-3"),
    ([2, "s-4", "Heartbeat"], "s-4"),            # CALL without payload
    ([2, "s-5", "Heartbeat", {}, {}], "s-5"),    # CALL with a fifth element
    ([2, "s-6", 42, {}], "s-6"),                 # action not a string
    ([2, "s-7", "", {}], "s-7"),
    ([3, "s-8"], "s-8"),                         # CALLRESULT without payload
    ([3, "s-9", {}, {}], "s-9"),
    ([4, "s-10", "GenericError", "x"], "s-10"),  # CALLERROR without details
    ([4, "s-11", "GenericError", "x", {}, {}], "s-11"),
    ([4, "s-12", "GenericError", "x", ["not", "an", "object"]], "s-12"),
    ([4, "s-13", 500, "x", {}], "s-13"),
    ([2], "-1"),
])
def test_malformed_frames_get_a_framework_error(csms, run, protocol, frame, echoed):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            assert_call_error(await st.exchange(frame), protocol, echoed, BAD_FRAME[protocol])
            await assert_usable(st)

    run(scenario())


@PROTOCOLS
@pytest.mark.parametrize("bad_id", ["x" * 37, "", 12345, None, ["id"], {"id": "x"}])
def test_unreadable_message_id_is_answered_with_minus_one(csms, run, protocol, bad_id):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            answer = await st.exchange([2, bad_id, "Heartbeat", {}])
            assert_call_error(answer, protocol, "-1", BAD_FRAME[protocol])
            await assert_usable(st)

    run(scenario())


@PROTOCOLS
def test_message_id_of_36_characters_is_served(csms, run, protocol):
    open_station = connect(csms, protocol)
    message_id = "0123456789abcdef0123456789abcdef-36x"
    assert len(message_id) == 36

    async def scenario():
        async with open_station() as st:
            await assert_usable(st, message_id)
            await assert_usable(st, "é" * 36)

    run(scenario())


@PROTOCOLS
def test_null_payload_is_an_empty_payload(csms, run, protocol):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            answer = await st.exchange('[2,"null-1","Heartbeat",null]')
            assert answer[:2] == [3, "null-1"]
            assert "currentTime" in answer[2]

    run(scenario())


@PROTOCOLS
@pytest.mark.parametrize("payload", [[], "x", 7, [{}], True])
def test_payload_that_is_not_an_object(csms, run, protocol, payload):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            answer = await st.exchange([2, "p-1", "Heartbeat", payload])
            assert_call_error(answer, protocol, "p-1", PAYLOAD_SYNTAX[protocol])
            await assert_usable(st)

    run(scenario())


# --- unknown message types -----------------------------------------------------------------

def test_v16_ignores_unknown_message_types_and_stays_usable(csms, run):
    open_station = connect(csms, V16)

    async def scenario():
        async with open_station() as st:
            for frame in ([5, "u-1", "Heartbeat", {}], [1, "u-2", {}], [0], [7, "x" * 37],
                          [-2, "u-3"]):
                await st.send(frame)
            assert await st.silent(1.0)  # OCPP-J 1.6 §4.1.3: "SHALL ignore"
            await assert_usable(st)

    run(scenario())


@pytest.mark.parametrize("frame, echoed", [
    ([5, "u-1", "Heartbeat", {}], "u-1"),
    ([6, "u-2"], "u-2"),
    ([1, "u-3", {}], "u-3"),
    ([0], "-1"),
    ([7, "x" * 37, {}], "-1"),
])
def test_v201_answers_unknown_message_types(csms, run, frame, echoed):
    open_station = connect(csms, V201)

    async def scenario():
        async with open_station() as st:
            answer = await st.exchange(frame)
            assert_call_error(answer, V201, echoed, "MessageTypeNotSupported")
            await assert_usable(st)

    run(scenario())


# --- actions ---------------------------------------------------------------------------------

@PROTOCOLS
@pytest.mark.parametrize("action", ["FlyToTheMoon", "heartbeat", "HEARTBEAT", "Heartbeat ",
                                    "HeartbeatResponse", "BootNotificationResponse"])
def test_unknown_action_is_not_implemented(csms, run, protocol, action):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            answer = await st.exchange([2, "a-1", action, {}])
            assert_call_error(answer, protocol, "a-1", "NotImplemented")
            await assert_usable(st)

    run(scenario())


@pytest.mark.parametrize("protocol, action", [
    (V16, "HeartbeatRequest"),          # the 2.0.1 schema name, not a 1.6 action
    (V16, "TransactionEvent"),          # a 2.0.1 action on a 1.6 connection
    (V201, "HeartbeatRequest"),         # 2.0.1 part 4 §4.1.6: no "Request" suffix
    (V201, "StartTransaction"),         # a 1.6 action on a 2.0.1 connection
])
def test_action_of_the_other_version_is_not_implemented(csms, run, protocol, action):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            answer = await st.exchange([2, "a-2", action, {}])
            assert_call_error(answer, protocol, "a-2", "NotImplemented")

    run(scenario())


@pytest.mark.parametrize("protocol, action, payload", [
    (V16, "Reset", {"type": "Soft"}),                           # a CSMS-to-station action
    (V16, "RemoteStartTransaction", {"idTag": "T"}),
    (V16, "SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"}),
    (V16, "Reset", {"nonsense": True}),                         # decided before validation
    (V201, "Reset", {"type": "Immediate"}),
    (V201, "SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"}),
    (V201, "RequestStartTransaction", {"nonsense": 1}),
])
def test_recognised_but_unserved_action_is_not_supported(csms, run, protocol, action, payload):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            answer = await st.exchange([2, "n-1", action, payload])
            assert_call_error(answer, protocol, "n-1", "NotSupported")
            await assert_usable(st)

    run(scenario())


@PROTOCOLS
def test_long_error_description_fits_the_version(csms, run, protocol):
    open_station = connect(csms, protocol)
    action = "Unknown" + "X" * 400

    async def scenario():
        async with open_station() as st:
            answer = await st.exchange([2, "long-1", action, {}])
            assert_call_error(answer, protocol, "long-1", "NotImplemented")
            assert answer[3]  # "Should be filled in if possible"

    run(scenario())


# --- payload validation -------------------------------------------------------------------------

CASES = {
    "type": {
        V16: [("BootNotification", {**BOOT[V16], "chargePointModel": 5}),
              ("StatusNotification", {**STATUS[V16], "connectorId": "1"}),
              ("StatusNotification", {**STATUS[V16], "connectorId": 1.5})],
        V201: [("BootNotification", {**BOOT[V201], "chargingStation": {"model": 1, "vendorName": "V"}}),
               ("StatusNotification", {**STATUS[V201], "evseId": "1"}),
               ("MeterValues", meter_values(V201, [{"value": "12.5"}]))],
    },
    "property": {
        V16: [("BootNotification", {**BOOT[V16], "chargePointVendor": "V" * 21}),
              ("StatusNotification", {**STATUS[V16], "errorCode": "Bogus"}),
              ("MeterValues", meter_values(V16, [{"value": "1", "unit": "kwh"}])),
              # a date-time that is none: caught where it is read
              ("StatusNotification", {**STATUS[V16], "timestamp": "yesterday"})],
        V201: [("BootNotification", {**BOOT[V201], "reason": "Bogus"}),
               ("BootNotification", {**BOOT[V201],
                                     "chargingStation": {"model": "M", "vendorName": "V" * 51}}),
               ("StatusNotification", {**STATUS[V201], "connectorStatus": "Charging"}),
               ("StatusNotification", {**STATUS[V201], "timestamp": "yesterday"})],
    },
    "occurrence": {
        V16: [("MeterValues", {"connectorId": 1, "meterValue": []}),
              ("MeterValues", meter_values(V16, []))],
        V201: [("MeterValues", {"evseId": 1, "meterValue": []}),
               ("Authorize", {"idToken": {"idToken": "T", "type": "ISO14443"},
                              "iso15118CertificateHashData": [
                                  {"hashAlgorithm": "SHA256", "issuerNameHash": "a",
                                   "issuerKeyHash": "b", "serialNumber": str(i),
                                   "responderURL": "http://ocsp.example"} for i in range(5)]})],
    },
    "incomplete": {
        V16: [("BootNotification", {"chargePointVendor": "VendorX"}),
              ("StatusNotification", {"connectorId": 1, "status": "Available"})],
        V201: [("BootNotification", {"reason": "PowerUp"}),
               ("StatusNotification", {"timestamp": "2024-05-01T10:00:00Z", "evseId": 1,
                                       "connectorId": 1})],
    },
    "syntax": {
        V16: [("BootNotification", {**BOOT[V16], "colour": "red"}), ("Heartbeat", {"x": 1})],
        V201: [("BootNotification", {**BOOT[V201], "colour": "red"}), ("Heartbeat", {"x": 1})],
    },
}
EXPECTED = {
    "type": {V16: "TypeConstraintViolation", V201: "TypeConstraintViolation"},
    "property": {V16: "PropertyConstraintViolation", V201: "PropertyConstraintViolation"},
    "occurrence": OCCURRENCE,
    "incomplete": INCOMPLETE,
    "syntax": PAYLOAD_SYNTAX,
}


@PROTOCOLS
@pytest.mark.parametrize("kind", sorted(CASES))
def test_schema_violations_get_their_error_codes(csms, run, protocol, kind):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            for n, (action, payload) in enumerate(CASES[kind][protocol]):
                answer = await st.exchange([2, f"v-{n}", action, payload])
                assert_call_error(answer, protocol, f"v-{n}", EXPECTED[kind][protocol])
            await assert_usable(st)

    run(scenario())
    assert Station.objects.get().vendor == ""  # no invalid BootNotification was applied


@PROTOCOLS
def test_valid_messages_are_answered(csms, run, protocol):
    open_station = connect(csms, protocol)
    sampled = [{"value": "12.5"}] if protocol == V16 else [{"value": 12.5}]

    async def scenario():
        async with open_station() as st:
            boot = await st.exchange([2, "ok-1", "BootNotification", BOOT[protocol]])
            assert boot[:2] == [3, "ok-1"]
            assert boot[2]["status"] == "Accepted"
            assert await st.exchange([2, "ok-2", "StatusNotification", STATUS[protocol]]) == \
                [3, "ok-2", {}]
            assert await st.exchange([2, "ok-3", "MeterValues", meter_values(protocol, sampled)]) == \
                [3, "ok-3", {}]

    run(scenario())
    assert Station.objects.get().vendor == "VendorX"


# --- answers to calls nobody made ---------------------------------------------------------------

@PROTOCOLS
def test_stray_answers_are_ignored(csms, run, protocol):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            await st.send([3, "nobody-asked", {"status": "Accepted"}])
            await st.send([4, "nobody-asked-either", "GenericError", "oops", {}])
            await st.send([4, "null-details", "NotSupported", "", None])
            await st.send('[3,"null-payload",null]')
            assert await st.silent(1.0)
            await assert_usable(st)

    run(scenario())


# --- robustness: one socket, every mistake --------------------------------------------------------

@PROTOCOLS
def test_connection_survives_every_kind_of_error(csms, run, protocol):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            await st.exchange("}{")
            await st.exchange([])
            await st.exchange([2, "x" * 37, "Heartbeat", {}])
            await st.exchange([2, "g-1", "NoSuchAction", {}])
            await st.exchange([2, "g-2", "Reset", {}])
            await st.exchange([2, "g-3", "BootNotification", {}])
            await st.exchange([2, "g-4", "Heartbeat", []])
            await st.send([3, "stray", {}])
            if protocol == V201:
                await st.exchange([9, "g-5"])
            else:
                await st.send([9, "g-5"])
            for n in range(3):
                await assert_usable(st, f"final-{n}")

    run(scenario())


@PROTOCOLS
def test_text_with_lone_surrogate_escape_is_refused_not_fatal(csms, run, protocol):
    # "\ud800" is no character; echoing it would make the CSMS's own frame invalid UTF-8.
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            for text in ('[2,"\\ud800","Heartbeat",{}]', '[2,"s-1","\\udc00",{}]'):
                answer = await st.exchange(text)
                assert_call_error(answer, protocol, "-1", INVALID_JSON[protocol])
            await assert_usable(st)

    run(scenario())


@PROTOCOLS
def test_absurdly_deep_nesting_is_refused_not_fatal(csms, run, protocol):
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            answer = await st.exchange("[" * 50_000)
            assert_call_error(answer, protocol, "-1", INVALID_JSON[protocol])
            await assert_usable(st)

    run(scenario())


def test_huge_number_does_not_stall_the_server(csms, run):
    # 2.0.1 sampledValue.value is a JSON number. 1e999999 is valid JSON; turning it into
    # a Python int costs ~20 s of CPU in the thread every station's database work shares.
    open_station = connect(csms, V201)

    async def scenario():
        async with open_station() as st:
            payload = json.dumps(meter_values(V201, [{"value": 1}])).replace(
                '"value": 1', '"value": 1e999999')
            answer = await st.exchange('[2,"big-1","MeterValues",' + payload + "]", timeout=5)
            assert answer[0] == 4 and answer[1] in ("big-1", "-1")
            assert answer[2] in VALID_CODES[V201]
            await assert_usable(st)

    run(scenario())


# --- registration status -------------------------------------------------------------------------

@PROTOCOLS
def test_rejected_station_only_gets_its_boot_answered(csms, run, protocol):
    open_station = connect(csms, protocol, registration_status="Rejected")

    async def scenario():
        async with open_station() as st:
            answer = await st.exchange([2, "r-1", "Heartbeat", {}])
            assert_call_error(answer, protocol, "r-1", "SecurityError")
            answer = await st.exchange([2, "r-2", "StatusNotification", STATUS[protocol]])
            assert_call_error(answer, protocol, "r-2", "SecurityError")
            boot = await st.exchange([2, "r-3", "BootNotification", BOOT[protocol]])
            assert boot[:2] == [3, "r-3"]
            assert boot[2]["status"] == "Rejected"
            assert isinstance(boot[2]["interval"], int)
            assert boot[2]["currentTime"].endswith("Z")
            answer = await st.exchange([2, "r-4", "Heartbeat", {}])
            assert_call_error(answer, protocol, "r-4", "SecurityError")

    run(scenario())


TX_CALLS = {
    V16: [("Authorize", {"idTag": "TAG1"}),
          ("StartTransaction", {"connectorId": 1, "idTag": "TAG1", "meterStart": 0,
                                "timestamp": "2024-05-01T10:00:00Z"}),
          ("MeterValues", meter_values(V16, [{"value": "12.5"}]))],
    V201: [("Authorize", {"idToken": {"idToken": "TAG1", "type": "ISO14443"}}),
           ("TransactionEvent", {"eventType": "Started", "timestamp": "2024-05-01T10:00:00Z",
                                 "triggerReason": "Authorized", "seqNo": 0,
                                 "transactionInfo": {"transactionId": "tx-1"},
                                 "evse": {"id": 1, "connectorId": 1}}),
           ("MeterValues", meter_values(V201, [{"value": 12.5}]))],
}


@PROTOCOLS
def test_pending_station_may_talk_but_not_transact(csms, run, protocol):
    open_station = connect(csms, protocol, registration_status="Pending")

    async def scenario():
        async with open_station() as st:
            boot = await st.exchange([2, "p-0", "BootNotification", BOOT[protocol]])
            assert boot[:2] == [3, "p-0"]
            assert boot[2]["status"] == "Pending"
            await assert_usable(st, "p-hb")
            assert await st.exchange([2, "p-sn", "StatusNotification", STATUS[protocol]]) == \
                [3, "p-sn", {}]
            for n, (action, payload) in enumerate(TX_CALLS[protocol]):
                answer = await st.exchange([2, f"p-{n + 1}", action, payload])
                assert_call_error(answer, protocol, f"p-{n + 1}", "SecurityError")
            await assert_usable(st, "p-hb-2")

    run(scenario())
    assert not Transaction.objects.exists()


@PROTOCOLS
def test_accepted_station_may_transact(csms, run, protocol):
    # The counterpart of the Pending test: the same calls are served once accepted.
    open_station = connect(csms, protocol)

    async def scenario():
        async with open_station() as st:
            for n, (action, payload) in enumerate(TX_CALLS[protocol]):
                answer = await st.exchange([2, f"t-{n}", action, payload])
                assert answer[:2] == [3, f"t-{n}"], answer

    run(scenario())
    assert Transaction.objects.count() == 1


# --- calls the CSMS makes -------------------------------------------------------------------------

RESET = {V16: {"type": "Soft"}, V201: {"type": "Immediate"}}


def call_state(pk):
    return StationCall.objects.get(pk=pk).state


@PROTOCOLS
def test_csms_call_is_matched_by_id_and_strays_are_ignored(csms, run, protocol):
    open_station = connect(csms, protocol, allowed_protocols=[protocol])
    call = queue_call(Station.objects.get(), "Reset", RESET[protocol])

    async def scenario():
        async with open_station() as st:
            frame = await st.recv()
            assert frame[0] == 2 and frame[2:] == ["Reset", RESET[protocol]], frame
            message_id = frame[1]
            assert isinstance(message_id, str) and 0 < len(message_id) <= 36
            await st.send([3, "stray-" + message_id[:20], {"status": "Rejected"}])
            await st.send([4, "stray-err", "GenericError", "", {}])
            # A CALL of the station's own is served while the CSMS waits for its answer.
            await assert_usable(st, "crossing")
            assert await in_thread_db(call_state)(call.pk) == StationCall.State.SENT
            await st.send([3, message_id, {"status": "Accepted"}])
            await async_eventually(lambda: call_state(call.pk) == StationCall.State.ANSWERED)
            return message_id

    message_id = run(scenario())
    row = StationCall.objects.get(pk=call.pk)
    assert (row.message_id, row.response) == (message_id, {"status": "Accepted"})


@PROTOCOLS
def test_csms_call_answered_with_callerror(csms, run, protocol):
    open_station = connect(csms, protocol, allowed_protocols=[protocol])
    call = queue_call(Station.objects.get(), "Reset", RESET[protocol])

    async def scenario():
        async with open_station() as st:
            frame = await st.recv()
            await st.send([4, frame[1], "NotSupported", "no resets here", None])
            await async_eventually(lambda: call_state(call.pk) == StationCall.State.ERROR)
            await assert_usable(st)

    run(scenario())
    row = StationCall.objects.get(pk=call.pk)
    assert (row.error_code, row.error_description) == ("NotSupported", "no resets here")


def test_csms_call_with_fractional_number_is_sent(csms, run):
    # 1.6 chargingSchedulePeriod.limit has multipleOf 0.1; a payload from the portal or the
    # database carries floats, which must validate like the decimals they were written as.
    open_station = connect(csms, V16, allowed_protocols=[V16])
    payload = {"idTag": "TAG1", "chargingProfile": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.1}]}}}
    call = queue_call(Station.objects.get(), "RemoteStartTransaction", payload)

    async def scenario():
        async with open_station() as st:
            frame = await st.recv()
            assert frame[2:] == ["RemoteStartTransaction", payload]
            await st.send([3, frame[1], {"status": "Accepted"}])
            await async_eventually(lambda: call_state(call.pk) == StationCall.State.ANSWERED)

    run(scenario())


@PROTOCOLS
def test_a_station_cannot_forge_a_line_in_the_server_log(csms, run, protocol):
    """An answer to no call of ours is logged with its message id, which the station
    chose: control characters in it come out escaped, on the record's own line
    (issue 8, item 13: a 36-character id with a newline was logged verbatim)."""
    open_station = connect(csms, protocol)
    forged = "z\nERROR forged: key leaked\r\x1b[2J"  # 31 characters: a valid id length

    async def scenario():
        async with open_station() as st:
            await st.send([3, forged, {}])
            await st.send([4, forged + "e", "GenericError", "", {}])
            await assert_usable(st)

    run(scenario())
    log = csms.log()
    assert "ERROR forged" in log  # it was logged ...
    assert not any(line.startswith("ERROR forged") for line in log.splitlines())  # ... escaped
    assert "\x1b" not in log
    assert "z\\nERROR forged: key leaked\\r\\x1b[2J" in log


def test_a_station_socket_is_one_line_in_the_server_log(csms, run):
    """Its connection is one line naming the station, the version and the peer: not
    uvicorn's "[accepted]" and the websockets library's "connection open" besides."""
    open_station = connect(csms, "ocpp1.6", identity="CP-ONE-LINE")

    async def scenario():
        async with open_station() as st:
            await assert_usable(st)

    run(scenario())
    # (the test server logs at DEBUG: websockets' own request dump is not counted)
    lines = [line for line in csms.log().splitlines() if "CP-ONE-LINE" in line and " DEBUG" not in f" {line}"]
    assert len(lines) == 1 and lines[0].endswith("station acme/CP-ONE-LINE connected (ocpp1.6) from 127.0.0.1"), lines
    assert "connection open" not in csms.log() and "connection closed" not in csms.log()

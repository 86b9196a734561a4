"""Real frames of every action the CSMS serves, and hypothesis strategies that put
extreme values into them: the numbers, times and strings the schemas admit (and a few
they do not), written as JSON text so that 1e4000 stays 1e4000 on the wire."""
import json
import re

from hypothesis import strategies as st

T = "2024-05-01T10:00:00Z"

FRAMES = {
    "ocpp1.6": {
        "BootNotification": {"chargePointVendor": "VendorX", "chargePointModel": "M1",
                             "chargePointSerialNumber": "S1", "chargeBoxSerialNumber": "B1",
                             "firmwareVersion": "1.0", "iccid": "8931", "imsi": "2620",
                             "meterType": "SDM630", "meterSerialNumber": "SDM-1"},
        "Heartbeat": {},
        "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available",
                               "timestamp": T, "info": "ok", "vendorId": "v", "vendorErrorCode": "0"},
        "Authorize": {"idTag": "TAG1"},
        "StartTransaction": {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": T,
                             "reservationId": 5},
        "StopTransaction": {"transactionId": 1, "idTag": "TAG1", "meterStop": 2000, "timestamp": T,
                            "reason": "Local", "transactionData": [{"timestamp": T, "sampledValue": [
                                {"value": "1000", "context": "Transaction.Begin", "unit": "Wh",
                                 "measurand": "Energy.Active.Import.Register"}]}]},
        "MeterValues": {"connectorId": 1, "transactionId": 1, "meterValue": [{"timestamp": T, "sampledValue": [
            {"value": "1.5", "context": "Transaction.Begin", "unit": "kWh",
             "measurand": "Energy.Active.Import.Register"},
            {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1"}]}]},
        "DataTransfer": {"vendorId": "acme", "messageId": "m", "data": "hello"},
        "DiagnosticsStatusNotification": {"status": "Uploaded"},
        "FirmwareStatusNotification": {"status": "Installed"},
        "SecurityEventNotification": {"type": "FirmwareUpdated", "timestamp": T, "techInfo": "x"},
        "LogStatusNotification": {"status": "Uploaded", "requestId": 7},
        "SignedFirmwareStatusNotification": {"status": "Installed", "requestId": 8},
    },
    "ocpp2.0.1": {
        "BootNotification": {"reason": "PowerUp", "chargingStation": {
            "model": "M", "vendorName": "V", "serialNumber": "S", "firmwareVersion": "1.0",
            "modem": {"iccid": "1", "imsi": "2"}}, "customData": {"vendorId": "v", "n": 1.5}},
        "Heartbeat": {},
        "StatusNotification": {"timestamp": T, "connectorStatus": "Available", "evseId": 1,
                               "connectorId": 1},
        "Authorize": {"idToken": {"idToken": "TAG1", "type": "ISO14443"}},
        "TransactionEvent": {
            "eventType": "Started", "timestamp": T, "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": "TX1", "chargingState": "Charging",
                                "timeSpentCharging": 10, "remoteStartId": 3},
            "idToken": {"idToken": "TAG1", "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1},
            "reservationId": 4, "numberOfPhasesUsed": 3, "cableMaxCurrent": 32, "offline": False,
            "meterValue": [{"timestamp": T, "sampledValue": [
                {"value": 1000.5, "context": "Transaction.Begin",
                 "measurand": "Energy.Active.Import.Register",
                 "unitOfMeasure": {"unit": "Wh", "multiplier": 0}},
                {"value": 230, "measurand": "Voltage", "phase": "L1-N"}]}]},
        "MeterValues": {"evseId": 1, "meterValue": [{"timestamp": T, "sampledValue": [
            {"value": 2.5, "context": "Sample.Periodic", "unitOfMeasure": {"unit": "kWh", "multiplier": 3}}]}]},
        "NotifyReport": {"requestId": 1, "generatedAt": T, "seqNo": 0, "tbc": False, "reportData": [{
            "component": {"name": "EVSE", "evse": {"id": 1, "connectorId": 1}},
            "variable": {"name": "Available"},
            "variableAttribute": [{"type": "Actual", "value": "true", "mutability": "ReadOnly"}],
            "variableCharacteristics": {"dataType": "decimal", "supportsMonitoring": False,
                                        "maxLimit": 10.5, "unit": "A"}}]},
        "NotifyEvent": {"generatedAt": T, "seqNo": 0, "tbc": False, "eventData": [{
            "eventId": 1, "timestamp": T, "trigger": "Alerting", "actualValue": "1",
            "eventNotificationType": "HardWiredNotification", "component": {"name": "C", "evse": {"id": 1}},
            "variable": {"name": "V"}, "cause": 2, "techCode": "t", "cleared": False,
            "transactionId": "TX1", "variableMonitoringId": 3}]},
        "DataTransfer": {"vendorId": "acme", "messageId": "m", "data": {"x": 1}},
        "SecurityEventNotification": {"type": "FirmwareUpdated", "timestamp": T, "techInfo": "x"},
        "FirmwareStatusNotification": {"status": "Installed", "requestId": 1},
        "LogStatusNotification": {"status": "Uploaded", "requestId": 1},
    },
}

INTEGERS = ["0", "-1", "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967296",
            "9223372036854775807", "9223372036854775808", "-9223372036854775809",
            "100000000000000000000", "-100000000000000000000", "1000000000000000000000",
            "99999999999999999", "100000000000000000", "1" + "0" * 4000, "999999999", "-999999999"]
NUMBERS = ["1e4000", "-1e4000", "1e308", "1.7976931348623157e308", "1e309", "-1e309", "1e-400",
           "1e20", "99999999999999999.9995", "0.000001", "-0.0", "5e-324",
           "123456789012345678901234567890.123456789", "1E+999999", "-1e16"]
TIMES = ["0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59",
         "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59Z",
         "2016-12-31T23:59:60Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z",
         "2024-05-01T24:00:00Z", "2024-05-01T10:00:00+24:00", "2024-05-01T10:00:00-00:00",
         "2024-05-01T10:00:00.123456789Z", "2024-05-01 10:00:00", "2024-05-01T10:00",
         "99999-01-01T00:00:00Z", "2024-05-01", "١٢٣٤-05-01T10:00:00Z", "now", ""]
STRINGS = ["", "\u0000", "a\u0000b", "\n", "x\r\nERROR forged", "\u2028", "\udbff\udfff", "NaN",
           "Infinity", "-Infinity", "1e4000", "1e30", "sNaN", "-0", "9" * 400, "x" * 2600, "\u00e9" * 50]

_TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T")


def leaves(value, path=()):
    """(path, kind) of every number, string and time in a payload."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from leaves(sub, (*path, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from leaves(sub, (*path, i))
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        yield path, "integer"
    elif isinstance(value, float):
        yield path, "number"
    elif isinstance(value, str):
        yield path, "time" if _TIME_TEXT.match(value) else "string"


RAW = {"integer": INTEGERS, "number": NUMBERS + INTEGERS[:6],
       "time": [json.dumps(t) for t in TIMES], "string": [json.dumps(s) for s in STRINGS]}


def put(payload, changes: dict) -> str:
    """`payload` as JSON text with the leaf at each path replaced by its JSON text."""
    copy = json.loads(json.dumps(payload))
    markers = {}
    for n, (path, raw) in enumerate(changes.items()):
        target = copy
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = markers[raw, n] = f"\u0001MUTATED{n}\u0001"
    text = json.dumps(copy)
    for (raw, _), marker in markers.items():
        text = text.replace(json.dumps(marker), raw)
    return text


@st.composite
def mutated_call(draw, protocol: str):
    """(action, payload text): a real frame of `protocol` with one or two leaves made extreme."""
    action = draw(st.sampled_from(sorted(FRAMES[protocol])))
    payload = FRAMES[protocol][action]
    spots = list(leaves(payload))
    if not spots:
        return action, json.dumps(payload)
    changes = {}
    for path, kind in draw(st.lists(st.sampled_from(spots), min_size=1, max_size=2, unique=True)):
        # Mostly a value of the leaf's own kind; sometimes another kind's.
        kind = draw(st.sampled_from([kind, kind, kind, "integer", "number", "string"]))
        changes[path] = draw(st.sampled_from(RAW[kind]))
    return action, put(payload, changes)

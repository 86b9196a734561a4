"""The per-frame bounds (csms/protocol/limits.py), exhaustively and without I/O."""
import json
from importlib import resources

import pytest

from csms.protocol import limits, messages, validation
from csms.protocol.errors import Problem, RpcError
from csms.protocol.versions import OcppVersion


def frame(payload, action="DataTransfer"):
    return json.dumps([2, "m1", action, payload])


def refusal(payload, version=OcppVersion.V16) -> RpcError:
    with pytest.raises(RpcError) as raised:
        messages.parse_frame(frame(payload), version)
    assert raised.value.message_id == "m1"
    return raised.value


def test_within_every_bound_a_payload_parses():
    payload = {"list": ["x" * limits.MAX_STRING_CHARS] * 3, "n": [1] * limits.MAX_ARRAY_ITEMS}
    assert messages.parse_frame(frame(payload), OcppVersion.V16).payload == payload


def test_an_array_above_the_bound_is_an_occurrence_violation_naming_the_field():
    error = refusal({"meterValue": [{"sampledValue": [{}] * (limits.MAX_ARRAY_ITEMS + 1)}]})
    assert error.problem is Problem.OCCURRENCE
    assert error.details == {"field": "meterValue/0/sampledValue", "constraint": "maxItems"}


def test_too_many_values_in_all_is_an_occurrence_violation():
    rows = limits.MAX_VALUES // limits.MAX_ARRAY_ITEMS + 1
    error = refusal({"a": [[0] * limits.MAX_ARRAY_ITEMS for _ in range(rows)]})
    assert error.problem is Problem.OCCURRENCE
    assert error.details["constraint"] == "maxValues"


def test_nesting_deeper_than_the_bound_is_a_format_violation():
    nested = []
    for _ in range(limits.MAX_DEPTH):
        nested = [nested]
    error = refusal({"data": nested})
    assert error.problem is Problem.PAYLOAD_SYNTAX
    assert error.details["constraint"] == "maxDepth"


@pytest.mark.parametrize("payload", [
    {"data": "x" * (limits.MAX_STRING_CHARS + 1)},
    {"x" * (limits.MAX_STRING_CHARS + 1): 1},
])
def test_an_overlong_string_or_member_name_is_a_property_violation(payload):
    error = refusal(payload)
    assert error.problem is Problem.PROPERTY
    assert error.details["constraint"] == "maxLength"


def test_call_error_details_are_bounded_too():
    text = json.dumps([4, "m1", "GenericError", "", {"a": [0] * (limits.MAX_ARRAY_ITEMS + 1)}])
    with pytest.raises(RpcError) as raised:
        messages.parse_frame(text, OcppVersion.V201)
    assert raised.value.problem is Problem.OCCURRENCE


def test_the_check_stops_at_the_first_excess_whatever_the_size():
    # Every item is an excess; one is enough to answer.
    assert limits.excess([["x" * (limits.MAX_STRING_CHARS + 1)]] * 500).constraint == "maxLength"


def _max_lengths(node):
    if isinstance(node, dict):
        if isinstance(node.get("maxLength"), int):
            yield node["maxLength"]
        for value in node.values():
            yield from _max_lengths(value)
    elif isinstance(node, list):
        for value in node:
            yield from _max_lengths(value)


@pytest.mark.parametrize("package", ["ocpp.v16", "ocpp.v201"])
def test_the_string_bound_is_above_every_length_the_schemas_allow(package):
    """Only strings the schemas leave unbounded can be refused by MAX_STRING_CHARS."""
    folder = resources.files(package).joinpath("schemas")
    longest = max(max(_max_lengths(json.loads(p.read_text(encoding="utf-8-sig"))), default=0)
                  for p in folder.iterdir() if p.name.endswith(".json"))
    assert 0 < longest < limits.MAX_STRING_CHARS


def test_schema_validation_looks_at_a_bounded_number_of_violations(monkeypatch):
    seen = []
    real = validation._validator(OcppVersion.V16, "MeterValues", False)

    class Counting:
        def iter_errors(self, payload):
            for error in real.iter_errors(payload):
                seen.append(error)
                yield error

    monkeypatch.setattr(validation, "_validator", lambda *a: Counting())
    samples = [{"value": 5}] * limits.MAX_ARRAY_ITEMS
    with pytest.raises(RpcError) as raised:
        validation.validate(OcppVersion.V16, "MeterValues", {
            "connectorId": 1, "meterValue": [{"timestamp": "2024-05-01T10:00:00Z", "sampledValue": samples}]})
    assert raised.value.problem is Problem.TYPE
    assert len(seen) == limits.MAX_SCHEMA_ERRORS

"""The fast validator (fastjsonschema) agrees with jsonschema on every OCPP schema
(csms/protocol/validation.py): it may answer only what jsonschema would.

Payloads are drawn from each schema (valid ones, and the same with one part replaced by
anything JSON can carry, a key dropped or one added), so that both sides of every rule
are tried: types, required and unknown keys, enums, lengths, our integer ranges,
date-times, item counts.
"""
import copy
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import best_match

from csms.protocol import validation
from csms.protocol.errors import RpcError
from csms.protocol.versions import OcppVersion
from tests.csms.frame_mutations import NUMBERS, STRINGS, TIMES

SCHEMAS = [(version, action, response) for version in OcppVersion
           for action in sorted(validation._actions(version)) for response in (False, True)]
FAST = [case for case in SCHEMAS if validation._compiled_fast(*case) is not None]

INSTANTS = ["2026-12-03T17:00:00Z", "2026-12-03T17:00:00.123+01:00", "2026-02-30T10:00:00Z",
            "2026-12-03 17:00:00", "2026-12-03T17:00:00", "yesterday", "", "2026-12-03T24:00:00Z"]
ANYTHING = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.sampled_from([2**31 - 1, 2**31, -2**31 - 1, 0, -1])
    | st.decimals(allow_nan=False, allow_infinity=False, places=3) | st.text(max_size=30)
    | st.sampled_from(INSTANTS) | st.sampled_from(TIMES) | st.sampled_from(STRINGS)
    | st.sampled_from([Decimal(n) for n in NUMBERS]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def _resolve(schema, root):
    while "$ref" in schema:
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def shaped(schema, root, bad, depth=0):
    """Values of the shape `schema` describes: valid, or with `bad` also each rule's
    wrong side (one past a length or a range, a value outside the enum, a bad date-time)."""
    schema = _resolve(schema, root)
    if depth > 12:
        return ANYTHING

    def inner(sub):
        return shaped(sub, root, bad, depth + 1)

    def edges(valid, wrong):
        return valid | st.sampled_from(wrong) if bad else valid

    kinds = schema.get("type", "object")
    kind = kinds[0] if isinstance(kinds, list) else kinds
    if "enum" in schema:
        return edges(st.sampled_from(schema["enum"]), ["", "NotInTheEnum", 1])
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries({k: inner(v) for k, v in properties.items() if k in required},
                                     optional={k: inner(v) for k, v in properties.items() if k not in required})
    if kind == "array":
        low, high = schema.get("minItems", 0), schema.get("maxItems", 3)
        shift = 1 if bad else 0
        return st.lists(inner(schema.get("items", {})), min_size=max(0, low - shift),
                        max_size=min(high + shift, low + 3))
    if kind == "string":
        if schema.get("format") == "date-time":
            return edges(st.sampled_from(INSTANTS[:2]), INSTANTS[2:] + TIMES)
        most = schema.get("maxLength", 20)
        return edges(st.text(max_size=min(most, 40)) | st.just("x" * most), ["x" * (most + 1), 7])
    if kind == "integer":
        low, high = schema.get(validation._RANGE, (-2**31, 2**31 - 1))
        return edges(st.integers(low, min(high, low + 1000)) | st.sampled_from([low, high]),
                     [low - 1, high + 1, 2**40, True, Decimal("1.5")])
    if kind == "number":
        return edges(st.decimals(allow_nan=False, allow_infinity=False, places=2) | st.integers(-10**6, 10**6)
                     | st.floats(allow_nan=False, allow_infinity=False), ["1", True])
    if kind == "boolean":
        return edges(st.booleans(), [0, "true"])
    return ANYTHING


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


@st.composite
def payloads(draw, case):
    schema = validation._schema(*case)
    payload = draw(shaped(schema, schema, bad=draw(st.booleans())))
    how = draw(st.sampled_from(["as drawn", "replace", "drop", "add"]))
    if how == "as drawn":
        return payload
    path = draw(st.sampled_from(list(_paths(payload))))
    if not path:
        return draw(ANYTHING) if how == "replace" else payload
    parent = payload
    for step in path[:-1]:
        parent = parent[step]
    if how == "replace":
        parent[path[-1]] = draw(ANYTHING)
    elif how == "drop":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(ANYTHING)
    return payload


def jsonschema_accepts(case, payload) -> bool:
    return best_match(validation._validator(*case).iter_errors(payload)) is None


def fast_accepts(case, payload) -> bool:
    try:
        validation._compiled_fast(*case)(payload)
    except Exception:  # noqa: BLE001  (whatever it raises, it refused)
        return False
    return True


@pytest.mark.parametrize("case", FAST, ids=lambda c: f"{c[0].value}-{c[1]}{'Response' if c[2] else ''}")
def test_the_fast_validator_answers_as_jsonschema_does(case):
    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(payloads(case))
    def check(payload):
        before = copy.deepcopy(payload)
        assert fast_accepts(case, payload) == jsonschema_accepts(case, payload), payload
        assert payload == before  # it wrote no default into the payload

    check()


def test_only_schemas_with_multiple_of_are_left_to_jsonschema():
    left = {case for case in SCHEMAS if case not in FAST}
    assert left and all(validation._has_key(validation._schema(*case), "multipleOf") for case in left)


def test_a_schema_is_compiled_off_the_caller_and_used_once_ready():
    case = (OcppVersion.V201, "TransactionEvent", False)  # among the slowest to compile
    validation._ready.pop(case, None)
    validation._compiling.discard(case)
    assert validation._fast(*case) is None  # not waited for: jsonschema judges meanwhile
    validation._compiler.submit(lambda: None).result(timeout=60)  # the compile queued before it is done
    assert validation._fast(*case) is validation._compiled_fast(*case)


def test_after_a_fork_what_was_under_way_in_the_parent_is_compiled_again():
    """A forked child (a Celery prefork worker) has no compiling thread: the hook that
    runs in it (os.register_at_fork) forgets what the parent's thread was compiling."""
    case = (OcppVersion.V201, "NotifyChargingLimit", False)
    validation._ready.pop(case, None)
    validation._compiling.add(case)  # as if the parent's thread were compiling it at the fork
    validation._after_fork_in_child()
    assert validation._fast(*case) is None
    validation._compiler.submit(lambda: None).result(timeout=60)
    assert validation._fast(*case) is validation._compiled_fast(*case)


def test_a_refusal_is_still_explained_by_jsonschema():
    with pytest.raises(RpcError) as caught:
        validation.validate(OcppVersion.V16, "StatusNotification",
                            {"connectorId": 2**31, "errorCode": "NoError", "status": "Available"})
    assert caught.value.details == {"field": "connectorId", "constraint": "range"}
    with pytest.raises(RpcError) as caught:
        validation.validate(OcppVersion.V16, "Heartbeat", {"currentTime": "2026-02-30T10:00:00Z"},
                            response=True)
    assert caught.value.details["field"] == "currentTime"

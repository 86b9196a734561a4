"""Payload validation against the JSON schemas shipped with the `ocpp` package.

We never hand-write OCPP schemas; we only decide which errorCode a violation earns, and
narrow what they leave open to what the CSMS can keep (`values`): integer ranges, real
date-times, and content every backend can store.

Two validators per schema. `fastjsonschema` compiles the schema (with our ranges as
`minimum`/`maximum` and our date-time check) into Python, and answers a valid payload
about twenty times sooner than `jsonschema` walks it: a Heartbeat's request and answer
were 7 % of a busy server's CPU (bench/storm.py --profile). Only a payload it refuses
goes to `jsonschema`, which decides and names the violation. So the fast one may be
stricter than `jsonschema` (that costs time, never an answer), never more lenient:
`tests/csms/test_validation_fast_path.py` compares the two on every schema. (One
difference, harmless: fastjsonschema takes a tuple for an array, jsonschema a list only.
A parsed frame holds lists; only an answer built in this process could hold a tuple,
which JSON writes as an array.) A schema with
`multipleOf` is left to `jsonschema` alone, whose exact arithmetic ours replaces
(`_multiple_of`; fastjsonschema divides, which a 1E-10000000 turns into a huge integer).
"""
import itertools
import json
import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import cache
from importlib import resources

import fastjsonschema
import jsonschema
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend, validator_for

from . import values
from .errors import Problem, RpcError
from .limits import MAX_SCHEMA_ERRORS
from .versions import OcppVersion

log = logging.getLogger(__name__)

_SCHEMA_PACKAGE = {OcppVersion.V16: "ocpp.v16", OcppVersion.V201: "ocpp.v201"}

# jsonschema keyword → what kind of violation it is.
_KEYWORD_PROBLEM = {
    "type": Problem.TYPE,
    "required": Problem.INCOMPLETE,
    "additionalProperties": Problem.PAYLOAD_SYNTAX,
    "minItems": Problem.OCCURRENCE,
    "maxItems": Problem.OCCURRENCE,
    "uniqueItems": Problem.OCCURRENCE,
}

# Our own keyword, added to every integer of a loaded schema: the range `values` allows.
_RANGE = "x-chargegate-range"


def _schema_name(version: OcppVersion, action: str, response: bool) -> str:
    if response:
        return f"{action}Response.json"
    return f"{action}.json" if version is OcppVersion.V16 else f"{action}Request.json"


@cache
def _actions(version: OcppVersion) -> frozenset[str]:
    """The action names of a version, read off its request schemas' file names.

    1.6 names requests `<Action>.json` and responses `<Action>Response.json`, so a
    response file must not be mistaken for an action called "<Action>Response".
    """
    folder = resources.files(_SCHEMA_PACKAGE[version]).joinpath("schemas")
    names = [p.name for p in folder.iterdir()]
    if version is OcppVersion.V16:
        return frozenset(n.removesuffix(".json") for n in names
                         if n.endswith(".json") and not n.endswith("Response.json"))
    return frozenset(n.removesuffix("Request.json") for n in names if n.endswith("Request.json"))


def is_known_action(version: OcppVersion, action: str) -> bool:
    """Whether `action` is an OCPP message of this version (in either direction)."""
    return action in _actions(OcppVersion(version))


def _multiple_of(validator, divisor, instance, schema):
    """`multipleOf` in exact arithmetic, for Decimals (parsed frames) and floats alike.

    Payloads that come from the database or a handler carry floats, which Python cannot
    take modulo a Decimal; and Decimal's own modulo fails beyond 28 digits of quotient.
    A Decimal no double holds (the parser's `Unrepresentable`, 1e-400) is left to the
    content check, which refuses it like any other (the same answer wherever it is).
    """
    if not validator.is_type(instance, "number"):
        return
    if isinstance(instance, float):
        if not math.isfinite(instance):
            yield ValidationError(f"{instance!r} is not a finite number")
            return
        instance = Decimal(repr(instance))  # the decimal the float was written as
    elif isinstance(instance, Decimal) and not values.fits_double(instance):
        return
    if not _is_multiple(instance, divisor):
        yield ValidationError(f"{instance} is not a multiple of {divisor}")


def _coefficient(number: int | Decimal) -> tuple[int, int]:
    """(m, e) with |number| = m × 10^e, m ≥ 0 an integer: exact, and linear in the digits."""
    if isinstance(number, int):
        return abs(number), 0
    _, digits, exponent = number.as_tuple()
    return int(Decimal((0, digits, 0))), exponent  # int(Decimal) has no 4300-digit limit


def _is_multiple(number: int | Decimal, divisor: int | Decimal) -> bool:
    """Whether `number` is an integer multiple of `divisor` (> 0, as schemas require).

    Exact, and its cost bounded by the digits of both, never by their exponents: a
    Fraction of 1E-10000000 would build 10**10000000. With number = m × 10^e and
    divisor = d × 10^f, the quotient is m / d × 10^(e - f):
    * e ≥ f: d must divide m × 10^(e - f). Only d's factors 2 and 5 can be cancelled by
      the power of ten, and neither occurs more than d.bit_length() times, so a larger
      power cancels nothing more.
    * e < f: d × 10^(f - e) must divide m, impossible once 10^(f - e) exceeds m (a
      nonzero m is below 2^m.bit_length() ≤ 10^m.bit_length()).
    """
    m, e = _coefficient(number)
    d, f = _coefficient(divisor)
    if m == 0:
        return True
    if e >= f:
        return m * 10 ** min(e - f, d.bit_length()) % d == 0
    if f - e > m.bit_length():
        return False
    return m % (d * 10 ** (f - e)) == 0


def _integer_range(validator, bounds, instance, schema):
    if validator.is_type(instance, "integer"):
        try:
            values.check_integer(instance, bounds)
        except values.ValueRefused as exc:
            yield ValidationError(f"{instance} {exc}")


def _format(validator, name, instance, schema):
    # The schemas say "format": "date-time"; jsonschema leaves formats unchecked.
    if name == "date-time" and validator.is_type(instance, "string"):
        try:
            values.instant(instance)
        except values.ValueRefused as exc:
            yield ValidationError(f"{instance!r} {exc}")


def _with_ranges(schema, definition=None):
    """`schema` with every integer property carrying its `values.integer_range`.

    A property is named by its key and, inside a 2.0.1 definition, by the definition
    too ("EVSEType.id"). Integers outside a property (array items) get INT32.
    """
    if isinstance(schema, list):
        return [_with_ranges(item, definition) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, sub in schema.items():
        if key == "definitions":
            out[key] = {name: _with_ranges(d, name) for name, d in sub.items()}
        elif key == "properties":
            out[key] = {name: _with_property_range(_with_ranges(p, definition), name, definition)
                        for name, p in sub.items()}
        else:
            out[key] = _with_ranges(sub, definition)
    if out.get("type") == "integer":
        out.setdefault(_RANGE, values.INT32)
    return out


def _with_property_range(schema, name, definition):
    if isinstance(schema, dict) and schema.get("type") == "integer":
        schema = {**schema, _RANGE: values.integer_range(name, definition)}
    return schema


@cache
def _schema(version: OcppVersion, action: str, response: bool) -> dict:
    """The shipped schema with our integer ranges (`_RANGE`) added."""
    name = _schema_name(version, action, response)
    path = resources.files(_SCHEMA_PACKAGE[version]).joinpath("schemas", name)
    # 2.0.1 schemas start with a byte order mark.
    return _with_ranges(json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal))


@cache
def _validator(version: OcppVersion, action: str, response: bool):
    schema = _schema(version, action, response)
    cls = validator_for(schema, default=jsonschema.Draft4Validator)
    keywords = {"multipleOf": _multiple_of, "format": _format, _RANGE: _integer_range}
    return extend(cls, keywords)(schema)


def _is_instant(text: str) -> bool:
    try:
        values.instant(text)
    except values.ValueRefused:
        return False
    return True


# What `_format` checks, and nothing more: jsonschema checks no other format.
_FAST_FORMATS = {"date-time": _is_instant, "uri": lambda _text: True}


@cache
def _compiled_fast(version: OcppVersion, action: str, response: bool):
    """The schema compiled by fastjsonschema, or None if jsonschema alone must judge it."""
    schema = _schema(version, action, response)
    if _has_key(schema, "multipleOf"):
        return None
    # use_default=False: fastjsonschema would otherwise write the schemas' defaults into
    # the payload it checks.
    return fastjsonschema.compile(_ranges_as_bounds(schema), formats=_FAST_FORMATS, use_default=False)


# Compiling takes up to 0.1-0.2 s for the largest 2.0.1 schemas (TransactionEvent,
# RequestStartTransaction): done on the event loop at a schema's first use, that stopped
# every connection of the process. So the first use starts it on a thread of its own, and
# jsonschema judges until it is ready.
_ready: dict = {}  # (version, action, response) -> the compiled validator, or None
_compiling: set = set()
_compiling_lock = threading.Lock()
_compiler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="schema-compile")


def _fast(version: OcppVersion, action: str, response: bool):
    """The fast validator if it is compiled; else None, and its compilation under way."""
    key = (version, action, response)
    try:
        return _ready[key]
    except KeyError:
        pass
    with _compiling_lock:
        if key not in _compiling:
            _compiling.add(key)
            _compiler.submit(_compile_in_background, key)
    return None


def _after_fork_in_child() -> None:
    # A forked child (a Celery prefork worker) has no compiling thread, whatever the
    # executor believes: a fresh one, and the compilations that were under way forgotten.
    global _compiler, _compiling, _compiling_lock
    _compiler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="schema-compile")
    _compiling, _compiling_lock = set(_ready), threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _compile_in_background(key) -> None:
    try:
        _ready[key] = _compiled_fast(*key)
    except Exception:  # never expected (tests compile every schema); jsonschema judges meanwhile
        log.exception("compiling the fast validator of %s failed", key)
        _ready[key] = None


def _has_key(schema, key: str) -> bool:
    if isinstance(schema, dict):
        return key in schema or any(_has_key(v, key) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_key(v, key) for v in schema)
    return False


def _ranges_as_bounds(schema):
    """`schema` with each `_RANGE` as the standard `minimum` and `maximum` it amounts to."""
    if isinstance(schema, list):
        return [_ranges_as_bounds(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _ranges_as_bounds(sub) for key, sub in schema.items() if key != _RANGE}
    if _RANGE in schema:
        low, high = schema[_RANGE]
        out["minimum"] = max(low, schema.get("minimum", low))
        out["maximum"] = min(high, schema.get("maximum", high))
    return out


def validate(version: OcppVersion, action: str, payload: dict, *, response: bool = False,
             message_id: str = "-1") -> None:
    """Raise RpcError unless `payload` is a valid request (or response) of `action`."""
    version = OcppVersion(version)
    fast = _fast(version, action, response)
    if fast is not None:
        try:
            fast(payload)
        except Exception:  # noqa: BLE001  jsonschema decides, and says why
            pass
        else:
            _check_content(payload, message_id)
            return
    validator = _validator(version, action, response)
    # The answer names one violation: the best of the first few, not of every one.
    errors = itertools.islice(validator.iter_errors(payload), MAX_SCHEMA_ERRORS)
    error = jsonschema.exceptions.best_match(errors)
    if error is None:
        _check_content(payload, message_id)
        return
    problem = _KEYWORD_PROBLEM.get(error.validator, Problem.PROPERTY)
    if error.validator == "type" and not error.absolute_path:
        problem = Problem.PAYLOAD_SYNTAX  # the payload itself is not an object
    where = "/".join(str(p) for p in error.absolute_path) or "(payload)"
    raise RpcError(
        problem,
        f"{where}: {error.message}"[:250],
        details={"field": where, "constraint": "range" if error.validator == _RANGE else error.validator},
        message_id=message_id,
    )


def _check_content(payload: dict, message_id: str) -> None:
    refusal = values.refusal_in(payload)
    if refusal is not None:
        where, why = refusal
        raise RpcError(Problem.PROPERTY, f"{where}: {why}"[:250],
                       details={"field": where, "constraint": "value"}, message_id=message_id)

"""OCPP-J RPC frames (OCPP-J 1.6 §4, 2.0.1 part 4 §4): parse and encode.

A frame is a JSON array: CALL `[2, id, action, payload]`, CALLRESULT `[3, id, payload]`,
CALLERROR `[4, id, code, description, details]`. `parse_frame` turns text into one of
the dataclasses below or raises `RpcError` describing the CALLERROR to answer with;
it returns None for a frame the version says to ignore.
"""
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from . import limits, values
from .errors import Problem, RpcError, error_code
from .versions import OcppVersion

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_MESSAGE_ID = 36
MAX_DESCRIPTION_V201 = 255
UNREADABLE_ID = "-1"
# Python refuses integer literals of more than 4300 digits (a guard against quadratic
# int/str conversion): such a frame is no JSON we read (FormatViolation/FormationViolation).
# A number written with a fraction or exponent gets the same bound on its digits; its
# exponent is bounded by `values` (see `_parse_number`).
MAX_NUMBER_DIGITS = 4300


@dataclass(frozen=True)
class Call:
    message_id: str
    action: str
    payload: dict


@dataclass(frozen=True)
class CallResult:
    message_id: str
    payload: dict


@dataclass(frozen=True)
class CallError:
    message_id: str
    error_code: str
    error_description: str = ""
    error_details: dict = field(default_factory=dict)


Frame = Call | CallResult | CallError


def _is_message_id(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_MESSAGE_ID


def _reject_constant(name: str):
    # json.loads accepts NaN/Infinity, which are not JSON (RFC 8259).
    raise ValueError(f"{name} is not valid JSON")


def _parse_number(text: str) -> Decimal:
    """A JSON number with a fraction or exponent, as a Decimal (linear in its length).

    RFC 8259 §6 lets a parser limit the range and precision of numbers it accepts: more
    digits than MAX_NUMBER_DIGITS make the frame unreadable, like an integer literal
    that long. A number beyond the exponents `values` allows (1e4000, 1E-10000000) is
    marked `values.Unrepresentable`: nothing computes with it (1E-10000000 as a Fraction
    would build 10**10000000), and validation refuses it with a
    PropertyConstraintViolation naming its field, in a request as in an answer to our call.
    """
    number = Decimal(text)
    if len(number.as_tuple().digits) > MAX_NUMBER_DIGITS:
        raise ValueError("number too long")
    if values.beyond_exponent(number):
        return values.Unrepresentable(number)
    return number


def _has_lone_surrogate(value) -> bool:
    """Whether any string in `value` holds a lone surrogate (from a "\\ud800" escape).

    Such a string is no Unicode text: it cannot be stored, logged as UTF-8, or echoed in
    a CALLERROR without making our own frame invalid. Iterative, as the value may be
    nested as deeply as the JSON parser allows.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_frame(text: str | bytes, version: OcppVersion) -> Frame | None:
    """Parse one WebSocket text message received on a connection of `version`."""
    version = OcppVersion(version)
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        elif not text.isascii():
            text.encode("utf-8")  # a str holding lone surrogates is no UTF-8 text
        # Decimals keep meter readings exact and make `multipleOf` checks reliable.
        msg = json.loads(text, parse_float=_parse_number, parse_constant=_reject_constant)
    except (ValueError, UnicodeError):
        raise RpcError(Problem.INVALID_JSON, "Message is not valid JSON") from None
    except RecursionError:
        raise RpcError(Problem.INVALID_JSON, "Message is nested too deeply") from None
    # The text itself is valid UTF-8 by now; only a \u escape can smuggle a surrogate in.
    if "\\u" in text and _has_lone_surrogate(msg):
        raise RpcError(Problem.INVALID_JSON, "Message contains a lone UTF-16 surrogate")

    if not isinstance(msg, list) or not msg:
        raise RpcError(Problem.BAD_FRAME, "Message is not a non-empty JSON array")

    type_id = msg[0]
    # bool is an int in Python, but `true` is not a message type number.
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise RpcError(Problem.BAD_FRAME, "MessageTypeId is not an integer",
                       message_id=_readable_id(msg))
    message_id = _readable_id(msg)

    if type_id not in (CALL, CALLRESULT, CALLERROR):
        if error_code(version, Problem.UNKNOWN_MESSAGE_TYPE) is None:
            return None
        raise RpcError(Problem.UNKNOWN_MESSAGE_TYPE,
                       f"Message type {type_id} is not supported", message_id=message_id)

    if message_id == UNREADABLE_ID and not (len(msg) > 1 and msg[1] == UNREADABLE_ID):
        raise RpcError(Problem.BAD_FRAME,
                       f"MessageId must be a string of 1 to {MAX_MESSAGE_ID} characters")

    if type_id == CALL:
        if len(msg) != 4:
            raise RpcError(Problem.BAD_FRAME, "A CALL has exactly 4 elements",
                           message_id=message_id)
        action, payload = msg[2], msg[3]
        if not isinstance(action, str) or not action:
            raise RpcError(Problem.BAD_FRAME, "Action is not a non-empty string",
                           message_id=message_id)
        return Call(message_id, action, _payload(payload, message_id))

    if type_id == CALLRESULT:
        if len(msg) != 3:
            raise RpcError(Problem.BAD_FRAME, "A CALLRESULT has exactly 3 elements",
                           message_id=message_id)
        return CallResult(message_id, _payload(msg[2], message_id))

    if len(msg) != 5:
        raise RpcError(Problem.BAD_FRAME, "A CALLERROR has exactly 5 elements",
                       message_id=message_id)
    code, description, details = msg[2], msg[3], msg[4]
    if not isinstance(code, str) or not isinstance(description, str):
        raise RpcError(Problem.BAD_FRAME, "errorCode and errorDescription must be strings",
                       message_id=message_id)
    if details is None:
        details = {}
    if not isinstance(details, dict):
        raise RpcError(Problem.BAD_FRAME, "errorDetails must be an object",
                       message_id=message_id)
    limits.check(details, message_id)
    return CallError(message_id, code, description, details)


def _readable_id(msg: list) -> str:
    """The frame's message id if it is a valid one, else "-1" (2.0.1 part 4 §4.2.3).

    An over-long id is not echoed: answering with it would make our own frame invalid.
    """
    if len(msg) > 1 and _is_message_id(msg[1]):
        return msg[1]
    return UNREADABLE_ID


def _payload(payload, message_id: str) -> dict:
    # Both versions allow `null` for "no payload" and recommend `{}`.
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise RpcError(Problem.PAYLOAD_SYNTAX, "Payload is not a JSON object",
                       message_id=message_id)
    # Before any schema validation: what that would cost is what the limits bound.
    limits.check(payload, message_id)
    return payload


# --- encoding ----------------------------------------------------------------------------

def _default(obj):
    if isinstance(obj, values.Unrepresentable):
        # Refused by validation; making 1e9999999 an int would cost an hour of CPU.
        raise ValueError("a number beyond the range of a double has no JSON form")
    if isinstance(obj, Decimal):
        # Integral decimals stay integers; others become the nearest float.
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def encode(frame: Frame) -> str:
    if isinstance(frame, Call):
        body = [CALL, frame.message_id, frame.action, frame.payload]
    elif isinstance(frame, CallResult):
        body = [CALLRESULT, frame.message_id, frame.payload]
    else:
        body = [CALLERROR, frame.message_id, frame.error_code, frame.error_description,
                frame.error_details or {}]
    return json.dumps(body, separators=(",", ":"), default=_default, ensure_ascii=False)


def call_error_for(error: RpcError, version: OcppVersion) -> CallError | None:
    """The CALLERROR answering `error` on a `version` connection (None: stay silent)."""
    code = error_code(version, error.problem)
    if code is None:
        return None
    description = error.description
    if OcppVersion(version) is OcppVersion.V201:
        description = description[:MAX_DESCRIPTION_V201]
    return CallError(error.message_id, code, description, dict(error.details))


def new_message_id() -> str:
    """A fresh CALL id: a UUID fits the 36-character limit exactly."""
    return str(uuid.uuid4())


def to_plain(value):
    """`value` with Decimals turned into ints/floats, for storage and handlers.

    Frames are parsed with Decimal so schema checks like `multipleOf` are exact; once
    validated, ordinary JSON numbers are what the rest of the system expects.
    """
    if isinstance(value, Decimal):
        return _default(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value

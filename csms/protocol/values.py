"""The values a station may send, narrowed to what the CSMS can keep and read back.

The JSON schemas admit any integer, any number and any string as a `date-time`; our
columns, Python's `datetime` and JSON itself do not. Each rule about a value's range lives
here, once: `validation` applies them to every payload it checks (so a value outside
them is a PropertyConstraintViolation before any handler runs) and the handlers use the
same functions when they turn values into columns. Pure: no Django, no I/O.
"""
import math
import re
from datetime import UTC, datetime, timedelta
from decimal import MAX_EMAX, MIN_EMIN, Decimal, InvalidOperation, localcontext


class ValueRefused(ValueError):
    """A value the schema admits but the CSMS cannot represent; str() says why."""


# --- integers ------------------------------------------------------------------------------

# OCPP 2.0.1 part 2 §2.1 defines `integer` as 32 bits with a sign; 1.6 leaves the width
# open and we take the same, which is what every integer column of ours holds.
INT32 = (-2**31, 2**31 - 1)
NON_NEGATIVE = (0, INT32[1])  # EVSE and connector numbers: 0 is the whole station

# Energy registers in Wh, as Transaction.meter_start_wh/meter_stop_wh keep them
# (the model takes its DecimalField's size from here). SQLite keeps a decimal as a REAL
# (an IEEE double), which holds 15 significant digits exactly and no more: a 17-digit
# register came back rounded (12345678901234567 -> 12345678901234600) or not at all
# (Django's converter raised InvalidOperation, so the StopTransaction and the admin
# pages failed). Digits before the point + places must therefore stay within 15 for
# both backends to keep the same values. 12 digits are 10^12 Wh = 1 TWh: a 350 kW DC
# charger running flat out for 30 years registers 92 GWh, under a tenth of that, and
# even a 3.75 MW truck charger (MCS) flat out for 30 years stays below it (985 GWh).
REGISTER_DIGITS, REGISTER_PLACES = 12, 3  # before and after the point
DOUBLE_DIGITS = 15  # significant decimal digits a double keeps exactly (DBL_DIG)
assert REGISTER_DIGITS + REGISTER_PLACES <= DOUBLE_DIGITS
REGISTER_LIMIT = Decimal(10) ** REGISTER_DIGITS  # exclusive
REGISTER = (-(10**REGISTER_DIGITS - 1), 10**REGISTER_DIGITS - 1)

# Integer properties whose range is not INT32, by name or as "<definition>.<name>" for a
# property of a 2.0.1 schema definition. 1.6 meter readings are Wh integers: a busy DC
# charger's lifetime register passes 2^31 Wh (2.1 GWh), so they get the register's range.
_INTEGER_RANGES = {
    "connectorId": NON_NEGATIVE,
    "evseId": NON_NEGATIVE,
    "EVSEType.id": NON_NEGATIVE,
    "meterStart": REGISTER,
    "meterStop": REGISTER,
}


def integer_range(name: str, definition: str | None = None) -> tuple[int, int]:
    """The (lowest, highest) value an integer property may take."""
    if definition and f"{definition}.{name}" in _INTEGER_RANGES:
        return _INTEGER_RANGES[f"{definition}.{name}"]
    return _INTEGER_RANGES.get(name, INT32)


def check_integer(value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValueRefused(f"is outside {low}..{high}")


# --- numbers -------------------------------------------------------------------------------

# A double holds magnitudes from 4.9e-324 (its smallest subnormal) to 1.8e308: a number
# whose decimal exponent lies beyond ±400 is outside that whatever its digits, Infinity
# one way and 0 the other, so it is no number we can keep. The exponent alone decides,
# which costs nothing however large it is; computing with such a number does not:
# exact arithmetic on 1E-10000000 (multipleOf as a Fraction) builds 10**10000000, seconds
# of CPU growing with the square of the exponent. The parser marks every such number
# as it reads it (`Unrepresentable`), so no check computes with it and `refusal_in`
# refuses it, like any other number no double can hold. (400 rather than the exact
# edges: those depend on the digits too, and `fits_double` settles them.)
MAX_EXPONENT = 400


class Unrepresentable(Decimal):
    """A number beyond ±10^MAX_EXPONENT, as the frame parser marks it: comparing it is
    cheap whatever its exponent, but nothing computes with it; it is always refused."""

    __slots__ = ()


def beyond_exponent(number: Decimal) -> bool:
    """Whether a finite `number` lies beyond ±10^MAX_EXPONENT (zero never does)."""
    return not number.is_zero() and not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT


def fits_double(number: Decimal | float) -> bool:
    """Whether an IEEE double holds `number`: finite, and not so small it becomes 0."""
    if isinstance(number, float):
        return math.isfinite(number)
    if not number.is_finite() or isinstance(number, Unrepresentable) or beyond_exponent(number):
        return False
    double = float(number)  # cheap now: the exponent is bounded
    return math.isfinite(double) and (double != 0 or number.is_zero())


# --- any content ---------------------------------------------------------------------------

def refusal_in(value) -> tuple[str, str] | None:
    """(path, why) of the first string or number in `value` that cannot be kept, or None.

    Whatever the schemas leave open (customData, vendor extensions) is stored as JSON
    too, so this looks at everything: a NUL (U+0000) in a string or key, which
    PostgreSQL cannot store in text or jsonb at all (refused on every backend, so both
    behave alike), and a number no IEEE double can hold (1e4000 would become Infinity,
    which is not JSON; 1e-400 would become 0). Iterative: payloads nest as deep as the parser allows.
    """
    stack = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "(payload)", "contains a NUL character"
        elif isinstance(item, Decimal | float):
            if not fits_double(item):
                return path or "(payload)", "is beyond the range of a number"
        elif isinstance(item, dict):
            for key, sub in item.items():
                where = f"{path}/{key}" if path else str(key)
                if "\x00" in key:
                    return where, "is a name containing a NUL character"
                stack.append((where, sub))
        elif isinstance(item, list):
            stack.extend((f"{path}/{i}" if path else str(i), sub) for i, sub in enumerate(item))
    return None


# --- energy registers ----------------------------------------------------------------------

def register_wh(reading: Decimal, factor: int = 1, multiplier: int = 0) -> Decimal:
    """`reading` × `factor` × 10^`multiplier` as the register column keeps it.

    A reading no double holds (a 1.6 text "1E+999999999999999999") is refused before
    anything computes with it; the rest is computed with an unbounded exponent, so a
    multiplier of 999999999 is refused rather than raising from inside `decimal`; rounded
    to the column's places (a reading finer than a mWh loses nothing anyone bills).
    Whatever `reading`, `factor` and `multiplier` are, the answer is a Decimal or
    ValueRefused.
    """
    if not reading.is_finite():
        raise ValueRefused("is not a finite number")
    if not fits_double(reading):
        raise ValueRefused("is beyond the range of a number")
    try:
        with localcontext() as ctx:
            ctx.prec, ctx.Emax, ctx.Emin = 60, MAX_EMAX, MIN_EMIN
            wh = (reading * factor).scaleb(multiplier)
            if abs(wh) >= REGISTER_LIMIT:
                raise ValueRefused(f"is {wh:.3E} Wh, beyond the {REGISTER_DIGITS}-digit register")
            wh = wh.quantize(Decimal(1).scaleb(-REGISTER_PLACES))
    except ArithmeticError:  # decimal's Overflow, InvalidOperation, ...: no reading we keep
        raise ValueRefused(f"is beyond the {REGISTER_DIGITS}-digit register") from None
    if abs(wh) >= REGISTER_LIMIT:  # rounded up to the limit
        raise ValueRefused(f"is beyond the {REGISTER_DIGITS}-digit register")
    return wh


def reading(text) -> Decimal | None:
    """A sampled value's reading as a number, or None when it is no number (1.6 sends
    text, which may be signed data; 2.0.1 sends a number)."""
    if isinstance(text, Decimal | int):
        return Decimal(text)
    if isinstance(text, float):
        return Decimal(repr(text))
    try:
        return Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None


# --- date-times ----------------------------------------------------------------------------

# RFC 3339 §5.6, with what station firmware is known to send besides: a space for "T",
# no seconds, no offset (read as UTC), an offset without its colon. ASCII digits only.
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))?")
# A day inside Python's datetime range: an instant at its very edge overflows as soon
# as anyone shows it in another time zone (the admin, a log, a report).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)


def instant(text: str) -> datetime:
    """An OCPP dateTime as an aware UTC datetime; ValueRefused if it names no instant
    we can represent (year 0000, 30 February, an offset that leaves the range, ...).

    A leap second (23:59:60, RFC 3339 §5.7) becomes the last microsecond before it:
    Python has no 60th second. Digits below a microsecond are dropped.
    """
    match = _DATE_TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueRefused("is not an RFC 3339 date-time")
    year, month, day, hour, minute, second, fraction, _, sign, off_h, off_m = match.groups()
    second, micro = int(second or 0), int((fraction or "0")[:6].ljust(6, "0"))
    if second == 60:
        second, micro = 59, 999999
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), second, micro)
        offset = timedelta(0)
        if sign:
            if int(off_h) > 23 or int(off_m) > 59:
                raise ValueError("offset out of range")
            offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
        moment = (local - offset).replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ValueRefused("is not a representable date-time") from None
    if not EARLIEST <= moment <= LATEST:
        raise ValueRefused(f"is outside {EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d}")
    return moment

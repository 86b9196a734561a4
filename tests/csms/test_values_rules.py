"""The value rules of `csms/protocol/values.py`, at their edges (pure: no server, no
database). The live tests in test_station_values.py show a station what they mean."""
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from csms.protocol import values
from csms.protocol.values import ValueRefused


def test_integers_are_32_bit_unless_named_otherwise():
    assert values.integer_range("interval") == (-2**31, 2**31 - 1)
    assert values.integer_range("connectorId") == (0, 2**31 - 1)
    assert values.integer_range("id", "EVSEType") == (0, 2**31 - 1)
    assert values.integer_range("id", "IdTokenInfoType") == (-2**31, 2**31 - 1)
    assert values.integer_range("meterStart") == (-(10**12 - 1), 10**12 - 1)


def test_a_register_fits_the_digits_a_double_keeps():
    # SQLite keeps decimals as doubles: 15 significant digits, or values come back rounded
    # (17 digits did: 12345678901234567 -> 12345678901234600) or not at all.
    assert values.REGISTER_DIGITS + values.REGISTER_PLACES <= 15
    from csms.models import Transaction
    for name in ("meter_start_wh", "meter_stop_wh"):
        field = Transaction._meta.get_field(name)
        assert (field.max_digits, field.decimal_places) == (15, 3)


@pytest.mark.parametrize("value, ok", [(2**31 - 1, True), (2**31, False), (-2**31, True), (-2**31 - 1, False)])
def test_check_integer_takes_its_bounds_inclusively(value, ok):
    if ok:
        values.check_integer(value, values.INT32)
    else:
        with pytest.raises(ValueRefused, match="outside"):
            values.check_integer(value, values.INT32)


@pytest.mark.parametrize("payload, where", [
    ({"a": {"b": ["x", "y\x00"]}}, "a/b/1"),
    ({"customData": {"ven\x00dor": 1}}, "customData/ven\x00dor"),
    ("\x00", "(payload)"),
    ({"n": Decimal("1e4000")}, "n"),
    ({"n": [float("inf")]}, "n/0"),
    ({"n": Decimal("-1e309")}, "n"),
    ({"n": Decimal("1e-330")}, "n"),  # a double would make it 0
    ({"n": values.Unrepresentable("1E-10000000")}, "n"),
    ({"n": Decimal("1E+999999999999999999")}, "n"),
])
def test_the_first_unkeepable_value_is_named_by_its_path(payload, where):
    assert values.refusal_in(payload)[0] == where


def test_keepable_content_is_left_alone_however_deep():
    deep = {"v": Decimal("1.7976931348623157e308"), "s": "plain ünïcode"}
    for _ in range(500):
        deep = {"k": [deep]}
    assert values.refusal_in(deep) is None


@pytest.mark.parametrize("reading, factor, multiplier, wh", [
    (Decimal("12.5"), 1, 3, Decimal("12500.000")),  # kWh written as Wh × 10^3
    (Decimal("1234.56789"), 1, 0, Decimal("1234.568")),  # rounded to the column's mWh
    (Decimal("5"), 1, -3, Decimal("0.005")),
    (Decimal("999999999999.9994"), 1, 0, Decimal("999999999999.999")),
    (Decimal("999999999.999"), 1000, 0, Decimal("999999999999.000")),  # kWh
])
def test_register_readings_in_range_are_kept_to_the_mwh(reading, factor, multiplier, wh):
    assert values.register_wh(reading, factor, multiplier) == wh


@pytest.mark.parametrize("reading, multiplier", [
    (Decimal("1"), 999999999),  # would raise from inside `decimal` without the wide context
    (Decimal("1"), 12),
    (Decimal("999999999999.9996"), 0),  # rounds up to the limit itself
    (Decimal("NaN"), 0),
    (Decimal("Infinity"), 0),
])
def test_register_readings_beyond_the_column_are_refused(reading, multiplier):
    with pytest.raises(ValueRefused):
        values.register_wh(reading, 1, multiplier)


@pytest.mark.parametrize("text", ["1E+999999999999999999", "-1E+999999999999999999",
                                  "1E-999999999999999999", "1e401", "1e-400", "9" * 5000])
@pytest.mark.parametrize("factor", [1, 1000])
def test_a_reading_beyond_any_double_is_refused_whatever_its_exponent(text, factor):
    # 1E+999999999999999999 kWh raised decimal.Overflow (an InternalError); the exponent
    # alone now refuses it, before anything computes with it.
    with pytest.raises(ValueRefused):
        values.register_wh(values.reading(text), factor)


@pytest.mark.parametrize("number, fits", [
    (Decimal("5e-324"), True), (Decimal("1.7976931348623157e308"), True), (Decimal("0E-999999"), True),
    (Decimal("-0"), True), (Decimal("1e-330"), False), (Decimal("1e309"), False),
    (Decimal("1E-10000000"), False), (Decimal("1E+999999999999999999"), False), (Decimal("NaN"), False),
    (values.Unrepresentable("1"), False), (1e308, True), (float("inf"), False),
])
def test_what_fits_a_double(number, fits):
    assert values.fits_double(number) is fits


@pytest.mark.parametrize("text, number", [
    ("  42.5 ", Decimal("42.5")), (7, Decimal(7)), (0.1, Decimal("0.1")),
    ("signed:AbC==", None), ("", None),
])
def test_a_reading_is_a_number_or_none(text, number):
    assert values.reading(text) == number


@pytest.mark.parametrize("text, moment", [
    ("2025-06-02T08:00:00Z", datetime(2025, 6, 2, 8, tzinfo=UTC)),
    ("2025-06-02t08:00:00z", datetime(2025, 6, 2, 8, tzinfo=UTC)),
    ("2025-06-02 08:00", datetime(2025, 6, 2, 8, tzinfo=UTC)),  # no seconds, no offset: UTC
    ("2025-06-02T10:00:00+0200", datetime(2025, 6, 2, 8, tzinfo=UTC)),
    ("2025-06-02T08:00:00.1234567Z", datetime(2025, 6, 2, 8, 0, 0, 123456, tzinfo=UTC)),
    ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("0001-01-02T00:00:00Z", values.EARLIEST),
    ("9999-12-30T23:59:59.999999Z", values.LATEST),
])
def test_date_times_firmware_sends_are_read_as_utc(text, moment):
    assert values.instant(text) == moment


@pytest.mark.parametrize("text", [
    "0000-01-01T00:00:00Z",  # no year 0
    "2025-02-30T00:00:00Z",
    "9999-12-31T23:59:59-23:59",  # leaves the range once the offset is applied
    "0001-01-01T00:00:00Z",  # inside Python's range, but not a day inside it
    "2025-06-02T08:00:00+24:00",
    "2025-06-02T08:00:00+05:60",
    "２０２５-06-02T08:00:00Z",  # fullwidth digits are no digits here
    "2025-06-02",
    "2025-06-02T08:00:00Z trailing",
    None,
])
def test_date_times_naming_no_representable_instant_are_refused(text):
    with pytest.raises(ValueRefused):
        values.instant(text)

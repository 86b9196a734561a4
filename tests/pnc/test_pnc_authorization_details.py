"""`pnc_contract_request`: what an EV may ask for, in one canonical spelling, and what the
driver is shown before approving it (registration flow spec §3).

The tests parse through their own Registry holding only this type, so they hold whether
or not the pnc app is installed; one test checks that PncConfig.ready() registers it.
"""
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from babel.numbers import get_currency_precision
from hypothesis import given, settings
from hypothesis import strategies as st

import pnc
from oauth import rar
from oauth.rar import InvalidAuthorizationDetails, Registry
from pnc.apps import PncConfig
from pnc.authorization_details import (
    PNC_CONTRACT_REQUEST,
    SCHEMA,
    currencies_in_use,
    describe,
    normalise,
)

# Before the spec example's contract period, so that it is acceptable as it stands.
NOW = datetime(2023, 6, 15, 12, 30, tzinfo=UTC)

SPEC_DETAIL = {
    "type": "pnc_contract_request",
    "charging_period": {"start": "2023-07-01T00:00:00.000Z", "end": "2024-07-01T00:00:00.000Z"},
    "maximum_amount": {"currency": "EUR", "amount": "234.56"},
    "maximum_transaction_amount": {"currency": "EUR", "amount": "100.00"},
}
SPEC_CANONICAL = {
    "type": "pnc_contract_request",
    "charging_period": {"start": "2023-07-01T00:00:00Z", "end": "2024-07-01T00:00:00Z"},
    "maximum_amount": {"currency": "EUR", "amount": "234.56"},
    "maximum_transaction_amount": {"currency": "EUR", "amount": "100.00"},
}
SPEC_LINES = [
    ("Contract period", "1 July 2023, 00:00 UTC – 1 July 2024, 00:00 UTC"),
    ("Maximum amount", "€234.56"),
    ("Maximum per charging session", "€100.00"),
]
# Spec §3.2: the body the user agent posts to the EV, which the EV forwards as is.
SPEC_WRAPPER = """{
  "emsp_id": "oidcharge",
  "redirect_uri": "https://user-agent.example.com/redirect",
  "authorization_detail": {
    "type": "pnc_contract_request",
    "charging_period": {
      "start": "2023-07-01T00:00:00.000Z",
      "end": "2024-07-01T00:00:00.000Z"
    },
    "maximum_amount": {
      "currency": "EUR",
      "amount": "234.56"
    },
    "maximum_transaction_amount": {
      "currency": "EUR",
      "amount": "100.00"
    }
  }
}"""
# Spec §3.3.2: the pushed authorization request's body, byte for byte.
SPEC_PAR_BODY = (
    "response_type=code&"
    "client_id=example_emsp&"
    "client_secret=aBcDeFgHiJKlMnOpQrStUvWxYz0123456789_-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-aBcDeFgHiJ&"
    "redirect_uri=https%3A%2F%2Foem-app.pnc.primbs.dev%2Fauthorize&"
    "code_challenge=nUg2hWlS95kZ1qT8H6RbLljkD1txlP11LyKh-u3j5pE&"
    "code_challenge_method=S256&"
    "scope=ccsr&"
    "authorization_details=%7B%22emsp_id%22%3A%22oidcharge%22%2C%22redirect_uri%22%3A%22https%3A%2F%2Fuser-agent"
    ".example.com%2Fredirect%22%2C%22authorization_detail%22%3A%7B%22type%22%3A%22pnc_contract_request%22%2C%22"
    "charging_period%22%3A%7B%22start%22%3A%222023-07-01T00%3A00%3A00.000Z%22%2C%22end%22%3A%222024-07-01T00%3A00"
    "%3A00.000Z%22%7D%2C%22maximum_amount%22%3A%7B%22currency%22%3A%22EUR%22%2C%22amount%22%3A%22234.56%22%7D%2C%22"
    "maximum_transaction_amount%22%3A%7B%22currency%22%3A%22EUR%22%2C%22amount%22%3A%22100.00%22%7D%7D%7D"
)
SPEC_PAR_AUTHORIZATION_DETAILS = (
    '{"emsp_id":"oidcharge","redirect_uri":"https://user-agent.example.com/redirect","authorization_detail":'
    '{"type":"pnc_contract_request","charging_period":{"start":"2023-07-01T00:00:00.000Z",'
    '"end":"2024-07-01T00:00:00.000Z"},"maximum_amount":{"currency":"EUR","amount":"234.56"},'
    '"maximum_transaction_amount":{"currency":"EUR","amount":"100.00"}}}'
)


@pytest.fixture
def registry():
    return Registry([PNC_CONTRACT_REQUEST])


def parse(registry, detail, now=NOW):
    return registry.parse(json.dumps([detail]), now=now)


def canonical(detail, now=NOW):
    """The one detail parse returns for `detail`, via a registry of its own."""
    [result] = Registry([PNC_CONTRACT_REQUEST]).parse(json.dumps([detail]), now=now)
    return result


def problem(detail, now=NOW) -> str:
    with pytest.raises(InvalidAuthorizationDetails) as caught:
        canonical(detail, now)
    return str(caught.value)


def contract(**fields):
    """A pnc_contract_request with the given members (...: leave the member out)."""
    detail = {"type": "pnc_contract_request", **fields}
    return {key: value for key, value in detail.items() if value is not ...}


def period(start=..., end=...):
    return {key: value for key, value in (("start", start), ("end", end)) if value is not ...}


def eur(amount):
    return {"currency": "EUR", "amount": amount}


# --- the specification's example ----------------------------------------------------------


def test_the_spec_example_as_an_rfc_9396_array(registry):
    assert registry.parse(json.dumps([SPEC_DETAIL]), now=NOW) == [SPEC_CANONICAL]


def test_the_spec_example_as_the_reference_evs_wrapper(registry):
    assert registry.parse(SPEC_WRAPPER, now=NOW) == [SPEC_CANONICAL]


def test_the_spec_example_from_the_pushed_authorization_request(registry):
    params = parse_qs(SPEC_PAR_BODY, strict_parsing=True)
    assert params["authorization_details"] == [SPEC_PAR_AUTHORIZATION_DETAILS]
    # The wrapper's redirect_uri is not the request's: the request's one is what counts.
    assert params["redirect_uri"] == ["https://oem-app.pnc.primbs.dev/authorize"]
    assert registry.parse(params["authorization_details"][0], now=NOW) == [SPEC_CANONICAL]


def test_the_spec_example_is_shown_to_the_driver_in_plain_english(registry):
    assert registry.describe(registry.parse(SPEC_PAR_AUTHORIZATION_DETAILS, now=NOW)) == [
        {"type": "pnc_contract_request", "title": "Plug & Charge contract", "lines": SPEC_LINES}]


def test_the_spec_example_is_refused_once_its_contract_has_ended(registry):
    with pytest.raises(InvalidAuthorizationDetails) as caught:
        registry.parse(SPEC_WRAPPER, now=datetime(2024, 7, 1, tzinfo=UTC))
    assert str(caught.value) == ("authorization_details.authorization_detail.charging_period.end:"
                                 " must be in the future: the contract would have ended already")


def test_the_spec_example_may_start_in_the_past():
    """Approved a week into the contract: the start is kept as the EV asked."""
    assert canonical(SPEC_DETAIL, now=datetime(2023, 7, 8, tzinfo=UTC)) == SPEC_CANONICAL


# --- the contract period ----------------------------------------------------------------------


def test_the_smallest_request_is_a_one_year_contract_from_now_without_limits():
    assert canonical(contract()) == {
        "type": "pnc_contract_request",
        "charging_period": {"start": "2023-06-15T12:30:00Z", "end": "2024-06-15T12:30:00Z"},
    }


@pytest.mark.parametrize("charging_period", [..., None, {}, period(start="", end=""), period(start=None, end=None)])
def test_an_absent_or_empty_period_is_one_year_from_now(charging_period):
    assert canonical(contract(charging_period=charging_period))["charging_period"] == {
        "start": "2023-06-15T12:30:00Z", "end": "2024-06-15T12:30:00Z"}


@pytest.mark.parametrize("start", [..., "", None])
def test_an_empty_start_is_now(start):
    assert canonical(contract(charging_period=period(start=start, end="2023-12-24T18:00:00Z")))["charging_period"] == {
        "start": "2023-06-15T12:30:00Z", "end": "2023-12-24T18:00:00Z"}


@pytest.mark.parametrize("end", [..., "", None])
def test_an_empty_end_is_one_year_after_the_start(end):
    assert canonical(contract(charging_period=period(start="2023-07-01T08:15:00Z", end=end)))["charging_period"] == {
        "start": "2023-07-01T08:15:00Z", "end": "2024-07-01T08:15:00Z"}


def test_one_year_after_29_february_is_28_february():
    assert canonical(contract(charging_period=period(start="2024-02-29T10:00:00Z")))["charging_period"] == {
        "start": "2024-02-29T10:00:00Z", "end": "2025-02-28T10:00:00Z"}


def test_one_year_after_now_on_29_february_is_28_february():
    assert canonical(contract(), now=datetime(2028, 2, 29, 23, 59, tzinfo=UTC))["charging_period"] == {
        "start": "2028-02-29T23:59:00Z", "end": "2029-02-28T23:59:00Z"}


def test_one_year_is_counted_from_the_start_in_utc():
    """The start 1 March 00:30 +01:00 is 29 February 23:30 UTC; the default end follows UTC."""
    assert canonical(contract(charging_period=period(start="2024-03-01T00:30:00+01:00")))["charging_period"] == {
        "start": "2024-02-29T23:30:00Z", "end": "2025-02-28T23:30:00Z"}


def test_now_is_rounded_up_to_the_second_as_a_start():
    now = datetime(2023, 6, 15, 12, 30, 59, 1, tzinfo=UTC)
    assert canonical(contract(), now=now)["charging_period"] == {
        "start": "2023-06-15T12:31:00Z", "end": "2024-06-15T12:31:00Z"}


def test_now_in_another_time_zone_gives_a_utc_start():
    now = datetime(2023, 6, 15, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert canonical(contract(), now=now)["charging_period"]["start"] == "2023-06-15T12:30:00Z"


@pytest.mark.parametrize(("given", "utc"), [
    ("2023-07-01T00:00:00Z", "2023-07-01T00:00:00Z"),
    ("2023-07-01T00:00:00.000Z", "2023-07-01T00:00:00Z"),
    ("2023-07-01T00:00:00.000000000Z", "2023-07-01T00:00:00Z"),
    ("2023-07-01t00:00:00z", "2023-07-01T00:00:00Z"),
    ("2023-07-01T02:00:00+02:00", "2023-07-01T00:00:00Z"),
    ("2023-06-30T18:30:00-05:30", "2023-07-01T00:00:00Z"),
    ("2023-07-01T00:00:00-00:00", "2023-07-01T00:00:00Z"),
    ("2023-07-01T00:00:00+00:00", "2023-07-01T00:00:00Z"),
    ("2023-07-01T23:59:00-23:59", "2023-07-02T23:58:00Z"),
])
def test_timestamps_become_utc_to_the_second(given, utc):
    assert canonical(contract(charging_period=period(start=given)))["charging_period"]["start"] == utc
    end = canonical(contract(charging_period=period(end=given)))["charging_period"]["end"]
    assert end == utc


def test_fractions_of_a_second_are_rounded_inwards():
    """The canonical period never covers more time than was asked for."""
    detail = contract(charging_period=period(start="2023-07-01T00:00:00.001Z", end="2023-08-01T23:59:59.999999999Z"))
    assert canonical(detail)["charging_period"] == {"start": "2023-07-01T00:00:01Z", "end": "2023-08-01T23:59:59Z"}


def test_a_period_shorter_than_a_second_after_rounding_is_refused():
    detail = contract(charging_period=period(start="2023-07-01T00:00:00.2Z", end="2023-07-01T00:00:00.8Z"))
    assert problem(detail) == ("authorization_details[0].charging_period.end:"
                               " must be after the start (2023-07-01T00:00:01Z)")


@pytest.mark.parametrize("end", ["2023-07-01T00:00:00Z", "2023-06-30T00:00:00Z", "2023-07-01T02:00:00+02:00"])
def test_the_end_must_be_after_the_start(end):
    assert problem(contract(charging_period=period(start="2023-07-01T00:00:00Z", end=end))) == (
        "authorization_details[0].charging_period.end: must be after the start (2023-07-01T00:00:00Z)")


@pytest.mark.parametrize("end", ["2023-06-15T12:30:00Z", "2023-06-15T12:29:59Z", "2022-01-01T00:00:00Z"])
def test_the_end_must_be_in_the_future(end):
    detail = contract(charging_period=period(start="2020-01-01T00:00:00Z", end=end))
    assert problem(detail) == ("authorization_details[0].charging_period.end:"
                               " must be in the future: the contract would have ended already")


@pytest.mark.parametrize("end", ["2023-06-15T12:30:00Z", "2023-06-15T12:29:59Z", "2022-01-01T00:00:00Z"])
def test_with_an_empty_start_the_end_must_come_after_now(end):
    assert problem(contract(charging_period=period(end=end))) == (
        "authorization_details[0].charging_period.end: must be after the start (2023-06-15T12:30:00Z)")


def test_a_start_over_a_year_ago_needs_an_explicit_end():
    assert problem(contract(charging_period=period(start="2022-06-15T12:30:00Z"))) == (
        "authorization_details[0].charging_period.end: must be in the future: the contract would have ended already")
    detail = contract(charging_period=period(start="2022-06-15T12:30:01Z"))
    assert canonical(detail)["charging_period"]["end"] == "2023-06-15T12:30:01Z"


def test_an_end_one_second_from_now_is_fine():
    detail = contract(charging_period=period(start="2020-01-01T00:00:00Z", end="2023-06-15T12:30:01Z"))
    assert canonical(detail)["charging_period"] == {"start": "2020-01-01T00:00:00Z", "end": "2023-06-15T12:30:01Z"}


def test_a_start_in_the_future_is_kept():
    detail = contract(charging_period=period(start="2030-01-01T00:00:00Z"))
    assert canonical(detail)["charging_period"] == {"start": "2030-01-01T00:00:00Z", "end": "2031-01-01T00:00:00Z"}


def test_far_dates_keep_four_digit_years():
    detail = contract(charging_period=period(start="0001-01-01T00:00:00Z", end="9999-12-31T23:59:59Z"))
    assert canonical(detail)["charging_period"] == {"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T23:59:59Z"}


def test_no_default_end_exists_after_a_start_in_9999():
    assert problem(contract(charging_period=period(start="9999-06-01T00:00:00Z"))) == (
        "authorization_details[0].charging_period.end: cannot default to one year after a start in the year 9999")


@pytest.mark.parametrize("start", ["9999-12-31T23:59:59.5Z", "9999-12-31T23:00:00-01:00", "0001-01-01T00:00:00+01:00"])
def test_instants_outside_python_s_range_are_refused(start):
    assert problem(contract(charging_period=period(start=start))) == (
        "authorization_details[0].charging_period.start: is not a valid date and time")


RFC3339_REQUIRED = "must be an RFC 3339 date-time with a time zone, like 2023-07-01T00:00:00Z"


@pytest.mark.parametrize(("value", "reason"), [
    ("2023-07-01", RFC3339_REQUIRED),
    ("2023-07-01T00:00:00", RFC3339_REQUIRED),
    ("2023-07-01 00:00:00Z", RFC3339_REQUIRED),
    ("2023-07-01T00:00Z", RFC3339_REQUIRED),
    ("2023-7-1T00:00:00Z", RFC3339_REQUIRED),
    ("2023-07-01T00:00:00.Z", RFC3339_REQUIRED),
    ("2023-07-01T00:00:00.0000000000Z", RFC3339_REQUIRED),
    ("2023-07-01T00:00:00+0200", RFC3339_REQUIRED),
    ("2023-07-01T00:00:00+02", RFC3339_REQUIRED),
    ("2023-07-01T00:00:00 Z", RFC3339_REQUIRED),
    (" 2023-07-01T00:00:00Z", RFC3339_REQUIRED),
    ("2023-07-01T00:00:00Z\n", RFC3339_REQUIRED),
    ("+12023-07-01T00:00:00Z", RFC3339_REQUIRED),
    ("２０２３-07-01T00:00:00Z", RFC3339_REQUIRED),
    ("1688169600", RFC3339_REQUIRED),
    ("2023-07-01T00:00:00UTC", RFC3339_REQUIRED),
    ("2023-13-01T00:00:00Z", "is not a valid date and time"),
    ("2023-02-29T00:00:00Z", "is not a valid date and time"),
    ("2023-07-00T00:00:00Z", "is not a valid date and time"),
    ("0000-07-01T00:00:00Z", "is not a valid date and time"),
    ("2023-07-01T24:00:00Z", "is not a valid date and time"),
    ("2023-07-01T00:60:00Z", "is not a valid date and time"),
    ("2023-07-01T00:00:61Z", "is not a valid date and time"),
    ("2023-12-31T23:59:60Z", "leap seconds are not supported"),
    ("2023-07-01T00:00:00+24:00", "has an invalid time zone offset"),
    ("2023-07-01T00:00:00+02:60", "has an invalid time zone offset"),
])
@pytest.mark.parametrize("bound", ["start", "end"])
def test_malformed_timestamps_are_refused(value, reason, bound):
    assert problem(contract(charging_period={bound: value})) == (
        f"authorization_details[0].charging_period.{bound}: {reason}")


@pytest.mark.parametrize(("value", "reason"), [
    (20230701, "must be a string or null, not a number"),
    (True, "must be a string or null, not a boolean"),
    ({"date": "2023-07-01"}, "must be a string or null, not an object"),
    ("2023-07-01T00:00:00Z" + " " * 60, "is too long (at most 64 characters)"),
])
def test_timestamps_are_strings(value, reason):
    assert problem(contract(charging_period={"end": value})) == f"authorization_details[0].charging_period.end: {reason}"


def test_the_period_has_only_a_start_and_an_end():
    assert problem(contract(charging_period={"start": "", "duration": "P1Y"})) == (
        "authorization_details[0].charging_period.duration: is not a known property (allowed: start, end)")


def test_the_period_is_an_object():
    assert problem(contract(charging_period=["2023-07-01T00:00:00Z"])) == (
        "authorization_details[0].charging_period: must be an object or null, not an array")


# --- the limits -------------------------------------------------------------------------------


@pytest.mark.parametrize(("currency", "given", "canonical_amount"), [
    ("EUR", "234.56", "234.56"),
    ("EUR", "100", "100.00"),
    ("EUR", "100.5", "100.50"),
    ("EUR", "0", "0.00"),
    ("EUR", "0.01", "0.01"),
    ("EUR", "999999999999999.99", "999999999999999.99"),
    ("USD", "12", "12.00"),
    ("GBP", "7.5", "7.50"),
    ("CHF", "1000", "1000.00"),
    ("JPY", "100", "100"),
    ("JPY", "0", "0"),
    ("KRW", "50000", "50000"),
    ("BHD", "1.234", "1.234"),
    ("BHD", "1.2", "1.200"),
    ("KWD", "5", "5.000"),
])
def test_amounts_get_exactly_the_currencys_decimals(currency, given, canonical_amount):
    money = {"currency": currency, "amount": given}
    result = canonical(contract(maximum_amount=money, maximum_transaction_amount=money))
    assert result["maximum_amount"] == result["maximum_transaction_amount"] == {
        "currency": currency, "amount": canonical_amount}


AMOUNT_FORM = ("must be a non-negative decimal number in a string, without sign, exponent or spaces,"
               " like 234.56")


@pytest.mark.parametrize(("currency", "amount", "reason"), [
    ("EUR", "234.567", "has too many decimals for EUR (at most 2)"),
    ("EUR", "1.000", "has too many decimals for EUR (at most 2)"),
    ("BHD", "1.2345", "has too many decimals for BHD (at most 3)"),
    ("JPY", "100.5", "must be a whole number for JPY"),
    ("JPY", "100.0", "must be a whole number for JPY"),
    ("EUR", "1000000000000000", "is too large (at most 15 digits before the point)"),
    ("EUR", "01", "must not have leading zeros"),
    ("EUR", "00.50", "must not have leading zeros"),
    ("EUR", "-1", AMOUNT_FORM),
    ("EUR", "+1", AMOUNT_FORM),
    ("EUR", "1e5", AMOUNT_FORM),
    ("EUR", "1E5", AMOUNT_FORM),
    ("EUR", " 1", AMOUNT_FORM),
    ("EUR", "1 ", AMOUNT_FORM),
    ("EUR", "1\n", AMOUNT_FORM),
    ("EUR", "1.", AMOUNT_FORM),
    ("EUR", ".5", AMOUNT_FORM),
    ("EUR", "1,50", AMOUNT_FORM),
    ("EUR", "1_000", AMOUNT_FORM),
    ("EUR", "", AMOUNT_FORM),
    ("EUR", "NaN", AMOUNT_FORM),
    ("EUR", "Infinity", AMOUNT_FORM),
    ("EUR", "0x10", AMOUNT_FORM),
    ("EUR", "١٠٠", AMOUNT_FORM),
    ("EUR", "１００", AMOUNT_FORM),
    ("EUR", "€100", AMOUNT_FORM),
    ("EUR", "1" * 33, "is too long (at most 32 characters)"),
    ("EUR", 100, "must be a string, not a number"),
    ("EUR", 100.5, "must be a string, not a number"),
    ("EUR", None, "must be a string, not null"),
])
@pytest.mark.parametrize("limit", ["maximum_amount", "maximum_transaction_amount"])
def test_malformed_amounts_are_refused(currency, amount, reason, limit):
    detail = contract(**{limit: {"currency": currency, "amount": amount}})
    assert problem(detail) == f"authorization_details[0].{limit}.amount: {reason}"


CURRENCY_FORM = "must be an ISO 4217 currency code of three capital letters, like EUR"


@pytest.mark.parametrize(("currency", "reason"), [
    ("eur", CURRENCY_FORM),
    ("Eur", CURRENCY_FORM),
    ("EURO", CURRENCY_FORM),
    ("EU", CURRENCY_FORM),
    ("", CURRENCY_FORM),
    ("€", CURRENCY_FORM),
    ("978", CURRENCY_FORM),
    (978, "must be a string, not a number"),
    ("EUR\n", "'EUR?' is not an ISO 4217 currency in use"),
    ("ZZZ", "'ZZZ' is not an ISO 4217 currency in use"),
    ("DEM", "'DEM' is not an ISO 4217 currency in use"),
    ("FRF", "'FRF' is not an ISO 4217 currency in use"),
    ("HRK", "'HRK' is not an ISO 4217 currency in use"),
    ("XXX", "'XXX' is not an ISO 4217 currency in use"),
    ("XTS", "'XTS' is not an ISO 4217 currency in use"),
    ("XAU", "'XAU' is not an ISO 4217 currency in use"),
    ("XDR", "'XDR' is not an ISO 4217 currency in use"),
    ("CLF", "'CLF' is not an ISO 4217 currency in use"),
    ("USN", "'USN' is not an ISO 4217 currency in use"),
])
@pytest.mark.parametrize("limit", ["maximum_amount", "maximum_transaction_amount"])
def test_currencies_must_be_in_use(currency, reason, limit):
    detail = contract(**{limit: {"currency": currency, "amount": "1"}})
    assert problem(detail) == f"authorization_details[0].{limit}.currency: {reason}"


def test_a_currency_is_in_use_until_its_changeover():
    """Croatia adopted the euro on 1 January 2023; CLDR has the kuna in tender until 14 January."""
    kuna = contract(maximum_amount={"currency": "HRK", "amount": "100"})
    for day in (datetime(2022, 12, 31, 23, 0, tzinfo=UTC), datetime(2023, 1, 14, 23, 59, tzinfo=UTC)):
        assert canonical(kuna, now=day)["maximum_amount"] == {"currency": "HRK", "amount": "100.00"}
    assert problem(kuna, now=datetime(2023, 1, 15, tzinfo=UTC)) == (
        "authorization_details[0].maximum_amount.currency: 'HRK' is not an ISO 4217 currency in use")
    euro = contract(maximum_amount=eur("100"))
    assert canonical(euro, now=datetime(2023, 1, 14, tzinfo=UTC))["maximum_amount"] == eur("100.00")


def test_the_currencies_in_use_are_cldrs_legal_tenders():
    in_use = currencies_in_use(NOW.date())
    assert {"EUR", "USD", "GBP", "CHF", "JPY", "SEK", "BHD", "CNY"} <= in_use
    assert not in_use & {"DEM", "HRK", "XXX", "XAU", "XDR", "CLF", "CHE", "USN", "CNH"}
    assert all(len(code) == 3 and code.isupper() for code in in_use)


@pytest.mark.parametrize("limit", ["maximum_amount", "maximum_transaction_amount"])
def test_an_absent_or_null_limit_is_unlimited(limit):
    for detail in (contract(), contract(**{limit: None})):
        result = canonical(detail)
        assert limit not in result
        assert dict(describe(result))["Maximum amount" if limit == "maximum_amount"
                                      else "Maximum per charging session"] == "Unlimited"


@pytest.mark.parametrize("limit", ["maximum_amount", "maximum_transaction_amount"])
@pytest.mark.parametrize(("money", "description"), [
    ({"currency": "EUR"}, "{limit}.amount: is required"),
    ({"amount": "1"}, "{limit}.currency: is required"),
    ({}, "{limit}.currency: is required"),
    ({"currency": "EUR", "amount": "1", "cents": 5},
     "{limit}.cents: is not a known property (allowed: currency, amount)"),
    ("234.56 EUR", "{limit}: must be an object or null, not a string"),
    (234.56, "{limit}: must be an object or null, not a number"),
    ([], "{limit}: must be an object or null, not an array"),
])
def test_a_limit_is_a_currency_and_an_amount(limit, money, description):
    assert problem(contract(**{limit: money})) == "authorization_details[0]." + description.format(limit=limit)


def test_the_per_session_limit_may_equal_the_total():
    result = canonical(contract(maximum_amount=eur("100"), maximum_transaction_amount=eur("100.00")))
    assert result["maximum_amount"] == result["maximum_transaction_amount"] == eur("100.00")


def test_the_per_session_limit_may_not_exceed_the_total():
    detail = contract(maximum_amount=eur("100"), maximum_transaction_amount=eur("100.01"))
    assert problem(detail) == (
        "authorization_details[0].maximum_transaction_amount.amount: must not exceed maximum_amount (100.00)")


def test_the_limits_are_compared_as_numbers_not_strings():
    result = canonical(contract(maximum_amount=eur("1000"), maximum_transaction_amount=eur("999.99")))
    assert result["maximum_transaction_amount"] == eur("999.99")
    detail = contract(maximum_amount=eur("9"), maximum_transaction_amount=eur("10"))
    assert "must not exceed maximum_amount (9.00)" in problem(detail)


def test_both_limits_are_in_one_currency():
    detail = contract(maximum_amount=eur("100"), maximum_transaction_amount={"currency": "USD", "amount": "1"})
    assert problem(detail) == (
        "authorization_details[0].maximum_transaction_amount.currency: must be the currency of maximum_amount (EUR)")


@pytest.mark.parametrize("limit", ["maximum_amount", "maximum_transaction_amount"])
def test_either_limit_may_be_given_alone(limit):
    result = canonical(contract(**{limit: {"currency": "JPY", "amount": "5000"}}))
    assert result[limit] == {"currency": "JPY", "amount": "5000"}
    assert set(result) == {"type", "charging_period", limit}


# --- the detail as a whole ------------------------------------------------------------------


@pytest.mark.parametrize("member", ["locations", "actions", "datatypes", "identifier", "privileges", "emaid", "Type"])
def test_no_other_members_are_allowed(member):
    assert problem(contract(**{member: ["x"]})) == (
        f"authorization_details[0].{member}: is not a known property"
        " (allowed: type, charging_period, maximum_amount, maximum_transaction_amount)")


def test_a_request_asks_for_one_contract(registry):
    with pytest.raises(InvalidAuthorizationDetails) as caught:
        registry.parse(json.dumps([SPEC_DETAIL, contract()]), now=NOW)
    assert str(caught.value) == (
        "authorization_details[1].type: only one 'pnc_contract_request' detail is allowed per request")


def test_the_canonical_form_members_come_in_a_fixed_order():
    assert list(canonical(SPEC_DETAIL)) == ["type", "charging_period", "maximum_amount", "maximum_transaction_amount"]
    assert list(canonical(SPEC_DETAIL)["charging_period"]) == ["start", "end"]
    assert list(canonical(SPEC_DETAIL)["maximum_amount"]) == ["currency", "amount"]


def test_normalise_leaves_its_input_alone():
    detail = json.loads(json.dumps(SPEC_DETAIL))
    normalise(detail, NOW)
    assert detail == SPEC_DETAIL


# --- what the driver is shown ----------------------------------------------------------------


def test_the_consent_lines_of_the_spec_example():
    assert describe(SPEC_CANONICAL) == SPEC_LINES


def test_the_consent_lines_show_seconds_only_when_there_are_some():
    result = canonical(contract(charging_period=period(start="2023-07-01T08:05:30+02:00", end="2023-12-01T00:00:00Z")))
    assert describe(result)[0] == ("Contract period", "1 July 2023, 06:05:30 UTC – 1 December 2023, 00:00 UTC")


def test_the_consent_lines_without_limits():
    assert describe(canonical(contract())) == [
        ("Contract period", "15 June 2023, 12:30 UTC – 15 June 2024, 12:30 UTC"),
        ("Maximum amount", "Unlimited"),
        ("Maximum per charging session", "Unlimited"),
    ]


@pytest.mark.parametrize(("money", "shown"), [
    ({"currency": "EUR", "amount": "1234567.5"}, "€1,234,567.50"),
    ({"currency": "USD", "amount": "100"}, "$100.00"),
    ({"currency": "GBP", "amount": "0"}, "£0.00"),
    ({"currency": "JPY", "amount": "5000"}, "¥5,000"),
    # CLDR's English pattern puts a code without a symbol right before the number.
    ({"currency": "CHF", "amount": "12"}, "CHF12.00"),
    ({"currency": "BHD", "amount": "1.5"}, "BHD1.500"),
])
def test_the_consent_lines_show_amounts_with_their_currency(money, shown):
    lines = dict(describe(canonical(contract(maximum_amount=money))))
    assert lines["Maximum amount"].replace("\xa0", " ") == shown


def test_the_type_has_a_title():
    assert PNC_CONTRACT_REQUEST.title == "Plug & Charge contract"
    assert PNC_CONTRACT_REQUEST.name == "pnc_contract_request"
    assert PNC_CONTRACT_REQUEST.unique


# --- registration -----------------------------------------------------------------------------


def test_the_pnc_app_registers_its_type_with_the_authorization_server(monkeypatch):
    monkeypatch.setattr(rar, "default_registry", Registry())
    config = PncConfig("pnc", pnc)
    config.ready()
    config.ready()  # harmless twice
    assert rar.names() == ["pnc_contract_request"]
    assert rar.get("pnc_contract_request") is PNC_CONTRACT_REQUEST
    assert rar.parse(SPEC_WRAPPER, now=NOW) == [SPEC_CANONICAL]


def test_the_authorization_server_does_not_import_pnc():
    """Imports point down: the AS learns the type from pnc, never the other way round."""
    source = Path(rar.__file__).read_text(encoding="utf-8")
    assert "import pnc" not in source and "from pnc" not in source


# --- properties -------------------------------------------------------------------------------

CURRENCIES = sorted(currencies_in_use(NOW.date()))
OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)


def rfc3339(moment: datetime, offset_minutes: int, fraction_digits: int, lower: bool) -> str:
    """`moment` written as an RFC 3339 date-time at the given offset, however a client might."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.replace(tzinfo=None, microsecond=0).isoformat()  # strftime's %Y may not pad to 4 digits
    if fraction_digits:
        text += "." + f"{local.microsecond:06d}{'0' * 3}"[:fraction_digits]
    if offset_minutes == 0:
        zone = "Z"
    else:
        sign = "+" if offset_minutes > 0 else "-"
        zone = f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    text += zone
    return text.lower() if lower else text


@st.composite
def timestamps(draw, moment):
    return rfc3339(moment, draw(OFFSETS), draw(st.integers(0, 9)), draw(st.booleans()))


@st.composite
def amounts(draw, currency, maximum=None):
    """(text, value): an amount for `currency`, at most `maximum`, written with any number
    of decimals from the fewest it needs to the currency's own."""
    decimals = get_currency_precision(currency)
    largest = 10 ** (15 + decimals) - 1 if maximum is None else int(maximum.scaleb(decimals))
    value = Decimal(draw(st.integers(0, largest))).scaleb(-decimals)
    needed = max(0, -value.normalize().as_tuple().exponent)
    shown = draw(st.integers(needed, decimals))
    return format(value.quantize(Decimal(1).scaleb(-shown)), "f"), value


@st.composite
def contracts(draw):
    """Any valid pnc_contract_request, written in any of the ways a client may write one."""
    detail = {"type": "pnc_contract_request"}
    start = NOW + timedelta(seconds=draw(st.integers(-2 * 366 * 86400, 366 * 86400)),
                            microseconds=draw(st.integers(0, 999_999)))
    end = max(start, NOW) + timedelta(seconds=draw(st.integers(2, 3 * 366 * 86400)),
                                      microseconds=draw(st.integers(0, 999_999)))
    bounds = {}
    if draw(st.booleans()):
        bounds["start"] = draw(timestamps(start))
    elif draw(st.booleans()):
        bounds["start"] = draw(st.sampled_from(["", None]))
    # A start over a year ago needs an explicit end: the default one would be over.
    ended_by_default = "start" in bounds and bounds["start"] and start + timedelta(days=365) <= NOW + timedelta(seconds=2)
    if ended_by_default or draw(st.booleans()):
        bounds["end"] = draw(timestamps(end))
    elif draw(st.booleans()):
        bounds["end"] = draw(st.sampled_from(["", None]))
    if bounds or draw(st.booleans()):
        detail["charging_period"] = bounds or draw(st.sampled_from([{}, None]))
    currency = draw(st.sampled_from(CURRENCIES))
    total = None
    if draw(st.booleans()):
        text, total = draw(amounts(currency))
        detail["maximum_amount"] = {"currency": currency, "amount": text}
    if draw(st.booleans()):
        text, _ = draw(amounts(currency, total))
        detail["maximum_transaction_amount"] = {"currency": currency, "amount": text}
    return detail


@settings(deadline=None)  # babel loads locale data on first use
@given(contracts())
def test_any_valid_contract_normalises_idempotently_to_a_schema_valid_detail(detail):
    once = canonical(detail)
    assert normalise(once, NOW) == once
    assert canonical(once) == once
    assert not list(PNC_CONTRACT_REQUEST.validator.iter_errors(once))
    assert len(describe(once)) == 3


@settings(deadline=None)  # babel loads locale data on first use
@given(contracts())
def test_the_canonical_period_lies_within_the_requested_one(detail):
    once = canonical(detail)
    start = datetime.fromisoformat(once["charging_period"]["start"])
    end = datetime.fromisoformat(once["charging_period"]["end"])
    asked = detail.get("charging_period") or {}
    if asked.get("start"):
        assert timedelta(0) <= start - datetime.fromisoformat(asked["start"].upper()) < timedelta(seconds=1)
    if asked.get("end"):
        assert timedelta(0) <= datetime.fromisoformat(asked["end"].upper()) - end < timedelta(seconds=1)
    assert start.microsecond == end.microsecond == 0
    assert NOW < end and start < end


@settings(deadline=None)  # babel loads locale data on first use
@given(st.sampled_from(CURRENCIES).flatmap(lambda currency: st.tuples(st.just(currency), amounts(currency))))
def test_canonical_amounts_round_trip(case):
    currency, (text, value) = case
    result = canonical(contract(maximum_amount={"currency": currency, "amount": text}))["maximum_amount"]
    decimals = get_currency_precision(currency)
    assert result["currency"] == currency
    assert Decimal(result["amount"]) == value
    assert len(result["amount"].partition(".")[2]) == decimals
    assert "." in result["amount"] or decimals == 0
    assert canonical(contract(maximum_amount=result))["maximum_amount"] == result


@settings(deadline=None)  # babel loads locale data on first use
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
       OFFSETS, st.booleans())
def test_any_rfc_3339_timestamp_means_its_instant(moment, offset, lower):
    moment = moment.replace(microsecond=0)
    detail = contract(charging_period=period(start="0001-01-01T00:00:00Z", end=rfc3339(moment, offset, 0, lower)))
    now = datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert canonical(detail, now=now)["charging_period"]["end"] == (
        moment.replace(tzinfo=None).isoformat() + "Z")


def test_the_schema_is_draft_2020_12():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


scalars = st.none() | st.booleans() | st.integers() | st.sampled_from(
    ["", "EUR", "JPY", "eur", "100", "1.5", "0", "01", "2023-07-01T00:00:00Z", "2030-01-01T00:00:00+02:00",
     "2023-07-01", "pnc_contract_request"]) | st.text(max_size=12)
near_misses = st.fixed_dictionaries(
    {"type": st.sampled_from(["pnc_contract_request"]) | scalars},
    optional={
        "charging_period": st.none() | st.dictionaries(st.sampled_from(["start", "end", "x"]), scalars, max_size=3),
        "maximum_amount": st.none() | st.dictionaries(st.sampled_from(["currency", "amount", "x"]), scalars),
        "maximum_transaction_amount": st.none() | st.dictionaries(st.sampled_from(["currency", "amount"]), scalars),
        "x": scalars,
    })


@settings(deadline=None)  # babel loads locale data on first use
@given(near_misses)
def test_any_near_miss_gives_a_clean_error_or_a_canonical_detail(detail):
    try:
        once = canonical(detail)
    except InvalidAuthorizationDetails as error:
        assert str(error).startswith("authorization_details[0].")
        assert all(" " <= char <= "~" and char not in '"\\' for char in str(error))
        return
    assert canonical(once) == once

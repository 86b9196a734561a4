"""The ``pnc_contract_request`` authorization details type (RFC 9396) of the PnC flow.

An EV asks for a contract certificate; the driver approves a contract period and
optional spending limits (registration flow spec §3.1-§3.2). ``pnc.apps`` registers the
type with the authorization server.

Canonical form, as stored, shown at consent and carried in the access token::

    {"type": "pnc_contract_request",
     "charging_period": {"start": "2023-07-01T00:00:00Z", "end": "2024-07-01T00:00:00Z"},
     "maximum_amount": {"currency": "EUR", "amount": "234.56"},
     "maximum_transaction_amount": {"currency": "EUR", "amount": "100.00"}}

* ``charging_period`` is always present with both bounds, in UTC, to the second, with a
  ``Z``: one spelling per instant, so details compare as strings and sort in time order.
  A contract needs no sub-second precision, but user agents (JavaScript's
  ``toISOString``) send milliseconds. They are rounded *inwards*: a start up to the next
  second, an end down to the previous one, so the canonical period never covers more time
  than was asked for.
* A missing maximum is omitted (unlimited). A present one has exactly the currency's
  number of decimals, so "100" EUR becomes "100.00" and equal limits are equal strings.

Pure logic: no database, no I/O, no Django.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, timedelta
from decimal import Decimal

from babel.core import get_global
from babel.dates import format_datetime
from babel.numbers import format_currency, get_currency_precision, get_territory_currencies

from lib.timestamps import rfc3339
from oauth.rar import DetailType, InvalidAuthorizationDetails, snippet

TYPE = "pnc_contract_request"
TITLE = "Plug & Charge contract"
MAX_INTEGER_DIGITS = 15  # 999 trillion in any currency: far beyond any real limit, and exact in Decimal
ONE_SECOND = timedelta(seconds=1)
AMOUNT_FORM = "a non-negative decimal number in a string, without sign, exponent or spaces, like 234.56"

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": TITLE,
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": TYPE},
        # null and "" mean "not given", like an absent member: a form field left empty.
        "charging_period": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {"start": {"$ref": "#/$defs/timestamp"}, "end": {"$ref": "#/$defs/timestamp"}},
        },
        "maximum_amount": {"$ref": "#/$defs/money"},
        "maximum_transaction_amount": {"$ref": "#/$defs/money"},
    },
    "$defs": {
        # The format is checked by normalise(), which has to parse it anyway.
        "timestamp": {"type": ["string", "null"], "maxLength": 64},
        "money": {
            "type": ["object", "null"],
            "required": ["currency", "amount"],
            "additionalProperties": False,
            "properties": {
                # normalise() re-checks both with fullmatch: a Python pattern's "$" also
                # matches before a final newline.
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                             "description": "an ISO 4217 currency code of three capital letters, like EUR"},
                "amount": {"type": "string", "maxLength": 32, "pattern": "^[0-9]+([.][0-9]+)?$",
                           "description": AMOUNT_FORM},
            },
        },
    },
}


def normalise(detail: dict, now: datetime) -> dict:
    """The canonical form of a schema-valid ``pnc_contract_request`` (see the module doc).

    Contract period: an empty or absent start means ``now``; an empty or absent end means
    one year after the start. The end must be after the start and in the future: a
    contract that has already ended is useless. A start in the past is accepted and
    kept: the driver approves the contract now, a user agent that asks for "today" sends
    today's midnight, and a certificate issued now cannot be used in the past anyway;
    clamping it would show the driver something the EV did not ask for.

    Limits: an active ISO 4217 currency (see ``currencies_in_use``) and an amount with at
    most the currency's decimals; the per-session limit may not exceed the total one, and
    both must be in the same currency.
    """
    start, end = contract_period(detail.get("charging_period") or {}, now)
    canonical = {"type": TYPE, "charging_period": {"start": format_timestamp(start), "end": format_timestamp(end)}}
    total = money(detail.get("maximum_amount"), "maximum_amount", now)
    per_session = money(detail.get("maximum_transaction_amount"), "maximum_transaction_amount", now)
    check_session_within_total(per_session, total)
    for key, limit in (("maximum_amount", total), ("maximum_transaction_amount", per_session)):
        if limit is not None:
            canonical[key] = limit.as_json()
    return canonical


def describe(detail: dict) -> list[tuple[str, str]]:
    """The consent screen's lines for a canonical detail, in plain English."""
    period = detail["charging_period"]
    return [
        ("Contract period", f"{human_time(period['start'])} – {human_time(period['end'])}"),
        ("Maximum amount", human_money(detail.get("maximum_amount"))),
        ("Maximum per charging session", human_money(detail.get("maximum_transaction_amount"))),
    ]


# ---------------------------------------------------------------------------------------
# Contract period

_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:[.](?P<fraction>[0-9]{1,9}))?"
    r"(?:[Zz]|(?P<sign>[+-])(?P<offset_hours>[0-9]{2}):(?P<offset_minutes>[0-9]{2}))")


def contract_period(period: dict, now: datetime) -> tuple[datetime, datetime]:
    """(start, end) in UTC, whole seconds, defaults applied, rounded inwards."""
    start_path, end_path = ("charging_period", "start"), ("charging_period", "end")
    if period.get("start"):
        start, fractional = parse_timestamp(period["start"], start_path)
        start = _plus_one_second(start, start_path) if fractional else start
    else:
        start = _ceil_to_second(now)
    if period.get("end"):
        end, _ = parse_timestamp(period["end"], end_path)
    else:
        end = one_year_after(start, end_path)
    if end <= start:
        raise InvalidAuthorizationDetails(f"must be after the start ({format_timestamp(start)})", end_path)
    if end <= now:
        raise InvalidAuthorizationDetails("must be in the future: the contract would have ended already", end_path)
    return start, end


def parse_timestamp(text: str, path: tuple[str, ...]) -> tuple[datetime, bool]:
    """An RFC 3339 date-time with a time zone as (UTC instant without its fraction of a
    second, whether that fraction was non-zero). ``-00:00`` is UTC; leap seconds, which
    Python cannot represent, are refused rather than silently moved."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise InvalidAuthorizationDetails(
            "must be an RFC 3339 date-time with a time zone, like 2023-07-01T00:00:00Z", path)
    fields = {name: int(value) for name, value in match.groupdict(default="0").items()
              if name not in ("sign", "fraction")}
    if fields["second"] == 60:
        raise InvalidAuthorizationDetails("leap seconds are not supported", path)
    if fields["offset_hours"] > 23 or fields["offset_minutes"] > 59:
        raise InvalidAuthorizationDetails("has an invalid time zone offset", path)
    try:
        wall = datetime(fields["year"], fields["month"], fields["day"], fields["hour"], fields["minute"],
                        fields["second"], tzinfo=UTC)
        offset = timedelta(hours=fields["offset_hours"], minutes=fields["offset_minutes"])
        instant = wall + offset if match["sign"] == "-" else wall - offset
    except (ValueError, OverflowError):
        raise InvalidAuthorizationDetails("is not a valid date and time", path) from None
    return instant, bool((match["fraction"] or "").strip("0"))


def format_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``: the platform's one format (`lib.timestamps`)."""
    return rfc3339(moment)


def one_year_after(start: datetime, path: tuple[str, ...]) -> datetime:
    """Same month, day and time a year later; from 29 February, 28 February."""
    if start.year >= MAXYEAR:
        raise InvalidAuthorizationDetails("cannot default to one year after a start in the year 9999", path)
    try:
        return start.replace(year=start.year + 1)
    except ValueError:
        return start.replace(year=start.year + 1, day=28)


def _ceil_to_second(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    whole = moment.replace(microsecond=0)
    return whole + ONE_SECOND if whole != moment else whole


def _plus_one_second(moment: datetime, path: tuple[str, ...]) -> datetime:
    try:
        return moment + ONE_SECOND
    except OverflowError:
        raise InvalidAuthorizationDetails("is not a valid date and time", path) from None


# ---------------------------------------------------------------------------------------
# Limits

_AMOUNT = re.compile(r"(?P<integer>0|[1-9][0-9]*)(?:[.](?P<fraction>[0-9]+))?")
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class Money:
    currency: str
    amount: Decimal  # with exactly the currency's decimals

    def as_json(self) -> dict:
        return {"currency": self.currency, "amount": format(self.amount, "f")}


@functools.lru_cache(maxsize=8)
def currencies_in_use(day: date) -> frozenset[str]:
    """ISO 4217 codes that are legal tender in some territory on ``day``, per CLDR (babel).

    This leaves out historic currencies (DEM, HRK since 2023), funds and units of
    account (CLF, XDR, XAU, XXX), which ``babel.numbers.list_currencies()`` would allow.
    Asking for the request's day rather than baking in a list keeps the answer right
    across a currency changeover, as CLDR records it.
    """
    territories = get_global("territory_currencies")
    return frozenset(code for territory in territories
                     for code in get_territory_currencies(territory, start_date=day, tender=True))


def money(value: dict | None, key: str, now: datetime) -> Money | None:
    """A limit in canonical form, or None for unlimited."""
    if value is None:
        return None
    currency = value["currency"]
    if not _CURRENCY.fullmatch(currency) or currency not in currencies_in_use(now.astimezone(UTC).date()):
        raise InvalidAuthorizationDetails(f"{snippet(currency)} is not an ISO 4217 currency in use", (key, "currency"))
    return Money(currency, amount(value["amount"], currency, (key, "amount")))


def amount(text: str, currency: str, path: tuple[str, ...]) -> Decimal:
    """A decimal string as an exact Decimal with the currency's number of decimals.

    The number of decimals is CLDR's (babel's ``get_currency_precision``), which is also
    what the consent screen formats with; for a few currencies it is smaller than ISO
    4217's minor unit (IQD: 0, not 3), and a limit the screen could not show is refused.
    More decimals than that, even zeros ("1.000" EUR), are refused rather than rounded:
    a limit is never changed behind the driver's back. Leading zeros are refused too, so
    "0100" cannot be read as octal or as a typo of 100 by anyone downstream.
    """
    match = _AMOUNT.fullmatch(text)
    if match is None:
        leading_zeros = re.fullmatch(r"0[0-9]+([.][0-9]+)?", text)
        raise InvalidAuthorizationDetails("must not have leading zeros" if leading_zeros else f"must be {AMOUNT_FORM}",
                                          path)
    integer, fraction = match["integer"], match["fraction"] or ""
    if len(integer) > MAX_INTEGER_DIGITS:
        raise InvalidAuthorizationDetails(f"is too large (at most {MAX_INTEGER_DIGITS} digits before the point)", path)
    decimals = get_currency_precision(currency)
    if len(fraction) > decimals:
        reason = (f"must be a whole number for {currency}" if decimals == 0
                  else f"has too many decimals for {currency} (at most {decimals})")
        raise InvalidAuthorizationDetails(reason, path)
    return Decimal(text).quantize(Decimal(1).scaleb(-decimals))


def check_session_within_total(per_session: Money | None, total: Money | None) -> None:
    """A session may not be allowed to spend more than the whole contract."""
    if per_session is None or total is None:
        return
    if per_session.currency != total.currency:
        raise InvalidAuthorizationDetails(f"must be the currency of maximum_amount ({total.currency})",
                                          ("maximum_transaction_amount", "currency"))
    if per_session.amount > total.amount:
        raise InvalidAuthorizationDetails(f"must not exceed maximum_amount ({format(total.amount, 'f')})",
                                          ("maximum_transaction_amount", "amount"))


# ---------------------------------------------------------------------------------------
# Consent screen


def human_time(text: str) -> str:
    """``2023-07-01T00:00:00Z`` → ``1 July 2023, 00:00 UTC``; seconds only when not zero."""
    moment = datetime.fromisoformat(text)
    pattern = "d MMMM y, HH:mm:ss" if moment.second else "d MMMM y, HH:mm"
    return f"{format_datetime(moment, pattern, tzinfo=UTC, locale='en')} UTC"


def human_money(value: dict | None) -> str:
    """``{"currency": "EUR", "amount": "234.56"}`` → ``€234.56``; no limit → ``Unlimited``."""
    if value is None:
        return "Unlimited"
    return format_currency(Decimal(value["amount"]), value["currency"], locale="en")


PNC_CONTRACT_REQUEST = DetailType(name=TYPE, schema=SCHEMA, normalise=normalise, describe=describe,
                                  title=TITLE, unique=True)

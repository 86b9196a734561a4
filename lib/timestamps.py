"""The one way Chargegate writes an instant for machines: RFC 3339 in UTC with `Z`, to
the second (`2026-12-02T12:25:51Z`).

CLI `--json`, the REST API (DRF's DATETIME_FORMAT) and every record a command prints use
it, so a script reading one can read them all. Whole seconds: what an operator compares
by eye, and what OCPP's and the PnC contract's own timestamps carry.
"""
from datetime import UTC, datetime

# For DRF's DATETIME_FORMAT, which converts to the current time zone (UTC, settings.TIME_ZONE) first.
RFC3339_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def rfc3339(moment: datetime | None) -> str | None:
    """`moment` (aware) as `YYYY-MM-DDTHH:MM:SSZ`; None stays None.

    isoformat, not strftime: it pads the year to four digits on every platform."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def json_default(value):
    """`json.dumps(default=...)`: instants as `rfc3339`, anything else (decimals) as text."""
    if isinstance(value, datetime):
        return rfc3339(value)
    return str(value)


def rfc3339_ms(moment: datetime) -> str:
    """`moment` (aware) as `YYYY-MM-DDTHH:MM:SS.mmmZ`: for records of what crossed a
    wire (`station probe`), where a handshake's steps are milliseconds apart and whole
    seconds would show them all at once."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def read_instant(text: str | None) -> datetime | None:
    """An instant a person typed (`--valid-until`, a form's date-time field): ISO 8601,
    read as UTC when it names no zone (the portal's date-time fields say so). None or
    blank stays None; anything else unreadable is ValueError, as is an instant whose UTC
    falls outside datetime's years 1 to 9999 (9999-12-31T23:59-23:59), which would
    overflow where it is stored."""
    if text is None or not text.strip():
        return None
    parsed = datetime.fromisoformat(text.strip())
    try:
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(f"{text.strip()} is outside the years 1 to 9999 in UTC") from None

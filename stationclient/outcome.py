"""What one authentication process came to (`StationClient.establish`): the outcome,
each handshake tried, the record, and the last 401's challenges. Pure values, so the
probe's verdict (`diagnostics`) is decided without I/O.
"""
import enum
from dataclasses import dataclass, field
from typing import Any

from lib.http_auth import Credentials

from . import negotiation
from .record import Record


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # 101 with an OCPP subprotocol
    CHALLENGED = "challenged"  # 401 and no method left to try (`Result.exhausted` says why)
    NO_CHALLENGES = "no_challenges"  # 401 without WWW-Authenticate: nothing would help
    MALFORMED = "malformed"  # 400
    NOT_FOUND = "not_found"  # 404
    THROTTLED = "throttled"  # 429
    BUSY = "busy"  # 503
    OTHER_STATUS = "other_status"
    NO_SUBPROTOCOL = "no_subprotocol"  # 101 without an OCPP version both sides speak
    UNPROVEN = "unproven"  # 101 whose Digest rspauth is wrong: the server did not prove itself
    TRANSPORT = "transport"  # no HTTP answer at all (refused, reset, timeout, TLS)


@dataclass(frozen=True)
class Attempt:
    method: str | None  # None: sent without credentials
    detail: str | None  # "Digest SHA-256"
    status: int | None


@dataclass
class Result:
    outcome: Outcome
    attempts: list[Attempt]
    record: Record
    challenges: list[Credentials] = field(default_factory=list)  # of the last 401, if any
    exhausted: negotiation.Exhausted | None = None
    connection: Any = None  # the open websockets ClientConnection when ACCEPTED
    subprotocol: str | None = None
    error: str | None = None

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]

    @property
    def status(self) -> int | None:
        return self.last.status

    def offered(self) -> list[str]:
        """The methods the last 401 offered that this client knows, in the server's order."""
        return negotiation.offered(c.scheme for c in self.challenges)

    def header(self, name: str) -> str | None:
        exchange = self.record.exchanges[-1]
        values = exchange.response.values(name) if exchange.response else []
        return values[0] if values else None


class AuthenticationFailed(Exception):
    """`connect` could not open the connection; `result` says what was tried and answered."""

    def __init__(self, result: Result):
        super().__init__(f"connection refused ({result.outcome.value}, last status {result.status})")
        self.result = result

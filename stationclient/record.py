"""What crossed the wire in a connection attempt: each handshake's request and
response, every header and body, with the instants they were sent and received (the
white paper's "Diagnostics": *record all HTTP headers and bodies and return them with
additional sent and received timestamps*).

Credentials never enter a record: `Authorization` (and `Proxy-Authorization`, `Cookie`,
the `TOTP` request header) keep their scheme, or TOTP's type, and say how long the rest
was, so an operator sees which method went out and in what shape, and can paste the
record anywhere. Pure.
"""
from dataclasses import dataclass, field
from datetime import datetime

from lib.timestamps import rfc3339_ms

SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie"}


def masked(name: str, value: str) -> str:
    """A header value as a record shows it."""
    lowered = name.lower()
    if lowered in SECRET_HEADERS:
        scheme, _, rest = value.strip().partition(" ")
        rest = rest.strip()
        return f"{scheme} <hidden: {len(rest)} characters>" if rest else f"<hidden: {len(scheme)} characters>"
    if lowered == "totp":
        kind, _, rest = value.strip().partition(" ")
        return f"{kind} <hidden: {len(rest.strip())} characters>"
    return value


@dataclass
class Request:
    sent_at: datetime
    target: str
    headers: list[tuple[str, str]]  # masked when recorded
    method: str = "GET"


@dataclass
class Response:
    received_at: datetime
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Exchange:
    """One HTTP handshake: a request, and its response unless the connection failed."""

    request: Request
    response: Response | None = None
    error: str | None = None  # a transport failure, said in words
    closed_at: datetime | None = None  # after a 101: when this client closed the WebSocket


def request(sent_at: datetime, target: str, headers) -> Request:
    return Request(sent_at, target, [(k, masked(k, v)) for k, v in headers])


@dataclass
class Record:
    exchanges: list[Exchange] = field(default_factory=list)

    def as_json(self) -> list[dict]:
        return [_exchange_json(e) for e in self.exchanges]

    def as_text(self) -> list[str]:
        """Lines for people: `>` sent, `<` received, as curl -v writes them."""
        lines = []
        for e in self.exchanges:
            r = e.request
            lines.append(f"> {rfc3339_ms(r.sent_at)}  {r.method} {r.target} HTTP/1.1")
            lines += [f">   {k}: {v}" for k, v in r.headers]
            if e.response is not None:
                p = e.response
                lines.append(f"< {rfc3339_ms(p.received_at)}  HTTP/1.1 {p.status} {p.reason}")
                lines += [f"<   {k}: {v}" for k, v in p.headers]
                if p.body:
                    lines += [f"<   | {line}" for line in _body_text(p.body).splitlines()]
            if e.error is not None:
                lines.append(f"! {e.error}")
            if e.closed_at is not None:
                lines.append(f"> {rfc3339_ms(e.closed_at)}  WebSocket closed by the probe (1000), no OCPP message sent")
        return lines


def _body_text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _exchange_json(e: Exchange) -> dict:
    out = {"request": {"sent_at": rfc3339_ms(e.request.sent_at), "method": e.request.method,
                       "target": e.request.target, "headers": [[k, v] for k, v in e.request.headers]},
           "response": None, "error": e.error,
           "closed_at": rfc3339_ms(e.closed_at) if e.closed_at else None}
    if e.response is not None:
        p = e.response
        out["response"] = {"received_at": rfc3339_ms(p.received_at), "status": p.status, "reason": p.reason,
                           "headers": [[k, v] for k, v in p.headers], "body": _body_text(p.body)}
    return out

"""The reference station client's WebSocket side: connect to `ws(s)://…/ocpp/<tenant>/<identity>`
with the OCPP subprotocol, answer 401s as `negotiation` decides, and record every
handshake (`record`).

    client = StationClient("wss://csms.example/ocpp/acme/CP001",
                           Secrets("CP001", password=b"..."), methods=("digest", "basic"))
    ws = await client.connect()      # raises AuthenticationFailed with the whole story
    ...                              # speak OCPP over ws
    ws = await client.connect()      # later: opens with the negotiated method

One `StationClient` is one station's network configuration: its negotiated method
lives as long as the object, across reconnections. `establish` is `connect` without
the exception, for tools that report any outcome (`station probe`).
"""
import asyncio
import logging
import os
import time
from datetime import UTC, datetime
from importlib import metadata
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection

from lib.http_auth import Credentials, MalformedAuthorization, parse_challenges

from . import authorization, negotiation
from .outcome import Attempt, AuthenticationFailed, Outcome, Result  # noqa: F401  (the client's API)
from .record import Exchange, Record, Response, request

log = logging.getLogger(__name__)
_BY_STATUS = {400: Outcome.MALFORMED, 404: Outcome.NOT_FOUND, 429: Outcome.THROTTLED, 503: Outcome.BUSY}


def _version() -> str:
    try:
        return metadata.version("chargegate")
    except metadata.PackageNotFoundError:
        return "0"


VERSION = _version()
USER_AGENT = f"chargegate-station/{VERSION}"


class _Recording(ClientConnection):
    """A ClientConnection that notes when its request left and its response arrived."""

    sink: list  # set per handshake by `_handshake`

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent_at = self.received_at = None
        self.sink.append(self)

    async def handshake(self, *args, **kwargs):
        self.sent_at = _now()
        await super().handshake(*args, **kwargs)

    def process_event(self, event):
        if self.response is None:
            self.received_at = _now()
        super().process_event(event)


def _now() -> datetime:
    return datetime.now(UTC)


class StationClient:
    def __init__(self, url: str, secrets: authorization.Secrets, methods=negotiation.DEFAULT_METHODS, *,
                 protocols=("ocpp1.6",), user_agent: str = USER_AGENT, max_failures: int = negotiation.MAX_FAILURES,
                 preemptive: bool = True, retry_delay: float = 1.0, clock=time.time, open_timeout: float = 10,
                 extra_headers=(), logger: logging.Logger = log, ssl_context=None):
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError("the URL is ws:// or wss://, with a host")
        self.url = url
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.secrets = secrets
        self.negotiator = negotiation.Negotiator(tuple(methods), max_failures)
        missing = [m for m in self.negotiator.methods if not secrets.holds(m)]
        if missing:
            raise ValueError(f"configured for {negotiation.names(missing)} without its credentials")
        self.protocols = tuple(protocols)
        self.user_agent = user_agent
        self.preemptive = preemptive
        self.retry_delay = retry_delay
        self.clock = clock  # the station's clock (TOTP); tests set it off by a slot
        self.open_timeout = open_timeout
        self.extra_headers = tuple(extra_headers)
        self.log = logger
        # wss only: the CAs the station trusts for the CSMS (None: the system's).
        self.tls = {"ssl": ssl_context} if ssl_context is not None and parts.scheme == "wss" else {}

    @property
    def negotiated(self) -> str | None:
        return self.negotiator.negotiated

    async def connect(self) -> ClientConnection:
        result = await self.establish()
        if result.outcome is not Outcome.ACCEPTED:
            raise AuthenticationFailed(result)
        return result.connection

    async def establish(self) -> Result:
        """One authentication process: as many handshakes as the negotiation takes (at
        most `max_failures` per method, plus the 401s that carry an exchange on: Digest's
        nonce, EAP's rounds), ending open or refused."""
        n = self.negotiator
        n.begin()
        method = n.opening(self.preemptive)
        attempts: list[Attempt] = []
        record = Record()
        challenges: list[Credentials] = []
        for _ in range(3 * n.max_failures * max(1, len(n.methods)) + 2):  # EAP: 2 handshakes a try
            written = self._write(method, challenges)
            exchange, ws = await self._handshake(written.headers if written else ())
            record.exchanges.append(exchange)
            status = exchange.response.status if exchange.response else None
            attempts.append(Attempt(method, written.detail if written else None, status))
            if ws is not None:
                return await self._opened(ws, method, written, attempts, record, challenges)
            if status != 401:
                outcome = Outcome.TRANSPORT if status is None else _BY_STATUS.get(status, Outcome.OTHER_STATUS)
                return Result(outcome, attempts, record, error=exchange.error)
            challenges = _challenges(exchange.response)
            if not challenges:
                return Result(Outcome.NO_CHALLENGES, attempts, record)
            failed = method is not None and not authorization.continues(method, written, challenges)
            following = self._answering(method, failed, challenges)
            if following is None:
                why = n.why_none(negotiation.offered(c.scheme for c in challenges))
                # The white paper: log why no further authentication was tried.
                self.log.warning("%s: no further authentication tried: %s", self.target, why)
                return Result(Outcome.CHALLENGED, attempts, record, challenges, why)
            if failed and self.retry_delay:
                await asyncio.sleep(self.retry_delay)
            method = following
        return Result(Outcome.CHALLENGED, attempts, record, challenges, n.why_none(()))

    def _answering(self, method: str | None, failed: bool, challenges: list[Credentials]) -> str | None:
        """The method to answer a 401 with, its failure counted first."""
        if failed:
            self.negotiator.failed(method)
        on_offer = [m for m in negotiation.offered(c.scheme for c in challenges)
                    if authorization.usable(m, challenges, self.secrets)]
        return self.negotiator.choose(on_offer)

    def _write(self, method, challenges) -> authorization.Written | None:
        if method is None:
            return None
        return authorization.write(method, self.secrets, challenges, target=self.target,
                                   now=self.clock(), random=os.urandom(16))

    async def _opened(self, ws, method, written, attempts, record, challenges) -> Result:
        if written is not None and written.digest is not None and not authorization.check_rspauth(
                written.digest, ws.response.headers.get("Authentication-Info")):
            await self.close(ws, record)
            return Result(Outcome.UNPROVEN, attempts, record, challenges)
        if ws.subprotocol is None:
            await self.close(ws, record)
            return Result(Outcome.NO_SUBPROTOCOL, attempts, record, challenges)
        self.negotiator.succeeded(method)
        return Result(Outcome.ACCEPTED, attempts, record, challenges, connection=ws, subprotocol=ws.subprotocol)

    async def close(self, ws: ClientConnection, record: Record | None = None) -> None:
        """Close right away (1000), noting when in the record's last exchange."""
        await ws.close()
        if record is not None and record.exchanges:
            record.exchanges[-1].closed_at = _now()

    async def _handshake(self, headers) -> tuple[Exchange, ClientConnection | None]:
        sink: list[_Recording] = []
        recording = type("Recording", (_Recording,), {"sink": sink})
        sent = [*self.extra_headers, *headers]
        ws = error = response = None
        try:
            ws = await websockets.connect(
                self.url, subprotocols=list(self.protocols) or None, additional_headers=sent,
                user_agent_header=self.user_agent, proxy=None, open_timeout=self.open_timeout,
                ping_interval=None, create_connection=recording, **self.tls)
            response = ws.response
        except websockets.InvalidStatus as exc:
            response = exc.response
        except (websockets.InvalidHandshake, OSError, TimeoutError) as exc:
            error = _said(exc)
        return _exchange(sink[-1] if sink else None, response, error, self.target, sent), ws


def _exchange(conn, response, error, target, sent) -> Exchange:
    """What this handshake sent and got, as websockets wrote and read it."""
    if conn is not None and conn.request is not None:
        sent_at, headers = conn.sent_at or _now(), list(conn.request.headers.raw_items())
    else:  # failed before a request was made (DNS, refused): what would have gone
        sent_at, headers = _now(), list(sent)
    exchange = Exchange(request(sent_at, target, headers), error=error)
    if response is not None:
        received_at = (conn.received_at if conn is not None else None) or _now()
        exchange.response = Response(received_at, response.status_code, response.reason_phrase,
                                     list(response.headers.raw_items()), response.body or b"")
    return exchange


def _challenges(response: Response) -> list[Credentials]:
    """Every challenge of every WWW-Authenticate field; a field this client cannot read
    is skipped, not the others."""
    found = []
    for value in response.values("WWW-Authenticate"):
        try:
            found += parse_challenges(value.encode("latin-1"))
        except (MalformedAuthorization, UnicodeEncodeError):
            continue
    return found


def _said(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out waiting for the server's answer"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

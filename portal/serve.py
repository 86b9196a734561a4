"""Start the web server: `python -m portal.serve [uvicorn options]`.

uvicorn with what it lacks for a server that stations and strangers reach directly:

* a deadline for the request head (408), and real 414/431 answers for oversized ones
  (`portal/request_head.py`); uvicorn has no header-read timeout, and the `websockets`
  library refuses an oversized handshake without sending its answer;
* a deadline for the request body (408) and a size cap (413);
* a cap on open sockets per process (503 with Retry-After, before reading anything);
* the OCPP frame limit (`csms.protocol.limits.MAX_FRAME_BYTES`) as `--ws-max-size`, so
  no command line can forget it (uvicorn's own default is 16 MiB);
* a graceful drain on SIGTERM (`DrainingServer`, csms/drain.py): new station handshakes
  are refused (503), readiness (`/healthz`) says `draining`, and the station sockets are
  closed spread over `CSMS_DRAIN_SECONDS`, so they reconnect to the other nodes
  gradually instead of all at once; a second SIGTERM or SIGINT stops at once.

Every uvicorn option still works (`--host`, `--port`, `--proxy-headers`, `--ssl-*`,
`--workers`/`WEB_CONCURRENCY`, ...), except `--http`: the guard needs httptools.
`WEB_HEADER_TIMEOUT_SECONDS`, `WEB_BODY_TIMEOUT_SECONDS`, `WEB_MAX_BODY_BYTES` and
`WEB_MAX_CONNECTIONS` override the bounds.
Used by `make run`, the Docker image, docs/deployment.md, tests/live.py and bench/.
"""
import asyncio
import importlib
import logging
import multiprocessing
import os
import sys
from http import HTTPStatus

import uvicorn.supervisors.multiprocess
from click.core import ParameterSource
from uvicorn.main import main as uvicorn_command
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server

from csms import drain, leaving
from csms.protocol.limits import MAX_FRAME_BYTES
from lib import cpu_affinity, gc_policy, thread_switching
from lib.log_summary import Summarised
from portal import request_head
from portal.request_head import HeadGuard, refusal_response

APP = "portal.asgi:application"
HEADER_TIMEOUT = float(os.environ.get("WEB_HEADER_TIMEOUT_SECONDS", request_head.HEADER_TIMEOUT_SECONDS))
BODY_TIMEOUT = float(os.environ.get("WEB_BODY_TIMEOUT_SECONDS", request_head.BODY_TIMEOUT_SECONDS))
MAX_BODY_BYTES = int(os.environ.get("WEB_MAX_BODY_BYTES", request_head.MAX_BODY_BYTES))
MAX_CONNECTIONS = int(os.environ.get("WEB_MAX_CONNECTIONS", request_head.MAX_CONNECTIONS))
# A full garbage collection every this many seconds, none in between (lib/gc_policy.py:
# they stopped the process for up to 0.7 s, every 2-3 s in a reconnect storm). 0: CPython's.
GC_FULL_SECONDS = float(os.environ.get("WEB_GC_FULL_SECONDS", "600"))
# How soon a database thread gets the interpreter back from the event loop after each round
# trip (lib/thread_switching.py: 5 ms, CPython's default, made PostgreSQL storms crawl). 0: CPython's.
GIL_SWITCH_MS = float(os.environ.get("WEB_GIL_SWITCH_MS", thread_switching.DEFAULT_MS))
# Each server process on one CPU core of its own (lib/cpu_affinity.py): its threads and its
# event loop handing the GIL across cores cost every piece of work 2-3x its CPU. off: not.
CPU_PIN = os.environ.get("WEB_CPU_PIN", "on").strip().lower()
RETRY_AFTER_SECONDS = 10
LINGER_SECONDS = 2.0
REFUSED_LINGER_SECONDS = 1.0  # short: these sockets are beyond the cap
DRAINING_RETRY_AFTER_SECONDS = 5  # a station refused by a leaving node; a proxy retries at once

log = logging.getLogger("portal.serve")
_refused = Summarised(log)  # a connect flood is one line per interval, not one per socket


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline, head bounds and a socket cap.

    WebSocket handshakes pass through here too (uvicorn upgrades after the head), so the
    same rules cover `/ocpp/` and every page.
    """

    head_guard: HeadGuard | None = None
    header_timer = None
    body_timer = None
    body_bytes = 0
    refused = False  # turned away at connect: never counted, nothing to clean up
    lingering = False  # answered with a refusal, closing soon: input is discarded

    def connection_made(self, transport):
        if len(self.connections) >= MAX_CONNECTIONS:
            # Refused before it counts: it never joins `connections`, so it cannot
            # hold a slot, and the peer learns when to come back.
            self.refused, self.transport = True, transport
            _refused.log("refused a connection: %d open (WEB_MAX_CONNECTIONS)", len(self.connections))
            transport.write(refusal_response(HTTPStatus.SERVICE_UNAVAILABLE, RETRY_AFTER_SECONDS))
            # Closed a moment later, not at once: a client whose request is already on
            # its way would get a reset instead of the 503 (review F6: 15 of 20 did).
            if transport.can_write_eof():
                transport.write_eof()
            asyncio.get_running_loop().call_later(REFUSED_LINGER_SECONDS, transport.close)
            return
        super().connection_made(transport)
        self.head_guard = HeadGuard()
        self._arm_header_timer()

    def connection_lost(self, exc):
        self._cancel_header_timer()
        self._cancel_body_timer()
        if self.refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused or self.lingering:
            return
        guard = self.head_guard
        if not guard.done:
            status = guard.feed(data)
            if status is not None:
                self._refuse(status)
                return
            if guard.done:
                self._cancel_header_timer()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.parser.should_upgrade() and self._should_upgrade():
            return  # a WebSocket handshake: no body
        headers = dict(self.headers)  # names are lower-cased by uvicorn
        self.body_bytes = 0
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0  # httptools has refused a malformed one already
        if declared > MAX_BODY_BYTES:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body")
        elif declared > 0 or b"transfer-encoding" in headers:
            self.body_timer = self.loop.call_later(BODY_TIMEOUT, self._body_timeout)

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > MAX_BODY_BYTES:  # a chunked body has no length up front
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body")
            return
        super().on_body(body)

    def handle_websocket_upgrade(self) -> None:
        if leaving.draining():
            # This process is leaving: the station should connect to another node. Refused
            # before the application sees it, so it costs no key check. A proxy told to
            # (`proxy_next_upstream ... http_503`) passes this very handshake on.
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "WebSocket handshake while draining",
                         retry_after=DRAINING_RETRY_AFTER_SECONDS)
            return
        super().handle_websocket_upgrade()

    def on_message_complete(self) -> None:
        self._cancel_body_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # A pipelined request's head is already complete; otherwise the next head
        # starts now and gets its own deadline.
        next_head_read = bool(self.pipeline)
        super().on_response_complete()
        if not next_head_read and not self.transport.is_closing():
            self.head_guard.reset()
            self._arm_header_timer()

    # --- helpers ---------------------------------------------------------------------

    def _arm_header_timer(self):
        self._cancel_header_timer()
        self.header_timer = self.loop.call_later(HEADER_TIMEOUT, self._header_timeout)

    def _cancel_header_timer(self):
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timeout(self):
        self.header_timer = None
        if not self.head_guard.done and not self.transport.is_closing():
            self._refuse(HTTPStatus.REQUEST_TIMEOUT)

    def _cancel_body_timer(self):
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def _body_timeout(self):
        self.body_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already (not Django's way): just hang up
        else:
            self._refuse(HTTPStatus.REQUEST_TIMEOUT, "request body")

    def _refuse(self, status: HTTPStatus, part: str = "request head", retry_after: int | None = None):
        """Answer `status` and close. The application has not answered yet: it gets
        nothing before the head is complete, and Django reads the whole body before
        any view runs; once the socket is closed it sees a disconnect."""
        self._cancel_header_timer()
        self._cancel_body_timer()
        client = "{}:{}".format(*self.client) if self.client else "?"
        log.info("%s - refused: %d %s (%s)", client, status.value, status.phrase, part)
        self.transport.write(refusal_response(status, retry_after))
        self._linger()

    def _linger(self):
        """Close after the answer, without losing it: closing a socket that still has
        unread input sends a reset, which can destroy the answer in flight (a client
        still sending a body would never see its 413). So stop writing, discard what
        arrives for a moment, then close (nginx's lingering close)."""
        self.lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


class DrainingServer(Server):
    """uvicorn's server, which drains before it shuts down (csms/drain.py).

    uvicorn stops on its first SIGTERM/SIGINT by closing its listeners and every socket
    at once (1012); only a second SIGINT forces the exit. Here the first signal drains
    first, while the listener stays open (readiness answers `draining`, handshakes get
    503), and a second signal of either kind forces the exit, cutting the drain short.
    """

    async def startup(self, sockets=None) -> None:
        # The application is loaded by now, so what exists is what lives as long as the
        # process, and is frozen out of every later collection.
        gc_policy.apply(asyncio.get_running_loop(), GC_FULL_SECONDS)
        thread_switching.apply(GIL_SWITCH_MS)
        if CPU_PIN not in ("on", "off"):
            raise SystemExit(f"WEB_CPU_PIN must be on or off, not {CPU_PIN!r}")
        if CPU_PIN == "on":
            # uvicorn's --workers processes are numbered from 1 by multiprocessing.
            number = multiprocessing.current_process()._identity
            cpu_affinity.pin(number[0] - 1 if number else 0)
        await super().startup(sockets)

    def handle_exit(self, sig, frame) -> None:
        if self.should_exit:
            self.force_exit = True
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets=None) -> None:
        if not self.force_exit:
            from django.conf import settings  # configured by now: the application is loaded

            try:
                await drain.drain(settings.CSMS["DRAIN_SECONDS"], stop=lambda: self.force_exit)
            except Exception:  # whatever went wrong, the process still stops
                log.exception("draining failed; closing the remaining sockets at once")
        await super().shutdown(sockets)


# uvicorn makes its Server by name, in `run` and in each `--workers` process it spawns.
# A spawned worker imports this module again (to unpickle `GuardedHttpToolsProtocol` from
# its config) before it builds its server, so it drains too. (`uvicorn.main` the
# attribute is the function of that name; the module is looked up.)
importlib.import_module("uvicorn.main").Server = DrainingServer
uvicorn.supervisors.multiprocess.Server = DrainingServer


def uvicorn_options(argv: list[str]) -> dict:
    """uvicorn's own option parsing, then our protocol and frame limit on top."""
    context = uvicorn_command.make_context("portal.serve", [APP, *argv])
    options = dict(context.params)
    if context.get_parameter_source("http") is not ParameterSource.DEFAULT:
        raise SystemExit("portal.serve: --http is not configurable (the request guard needs httptools)")
    options["http"] = GuardedHttpToolsProtocol
    if context.get_parameter_source("ws_max_size") is ParameterSource.DEFAULT:
        options["ws_max_size"] = MAX_FRAME_BYTES
    return options


def main(argv: list[str] | None = None) -> None:
    uvicorn_command.callback(**uvicorn_options(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()

"""The StationConsumer: one OCPP-J WebSocket, from handshake to close.

Transport only: it authenticates the handshake, speaks the RPC framing, hands each CALL
to the version's handler router and performs CSMS-initiated calls; what an action means
lives in `handlers/`, what a call intent is lives in `services`.
"""
import asyncio
import itertools
import logging
import math
import random
import time
from urllib.parse import unquote_to_bytes

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from ocpp.v16.enums import Action  # the action names are the same in 2.0.1

from lib import user_agent
from lib.log_summary import Summarised

from . import (
    announce,
    auth_audit,
    claim,
    credentials,
    db_outage,
    flood,
    frame_work,
    group_commit,
    handshake_metrics,
    held,
    lifecycle,
    liveness,
    recent_frames,
    services,
    stamps,
)
from .auth import admission, bearer, policy
from .auth.station_auth import Decision, challenges
from .db import database_sync_to_async  # a pool, not Channels' single thread (csms/db.py)
from .handlers import v16, v201
from .models import StationCall
from .protocol import messages, recent
from .protocol.calls import CallBook
from .protocol.errors import Problem, RpcError, error_code
from .protocol.limits import OFFLOAD_BYTES
from .protocol.messages import Call, CallError, CallResult
from .protocol.validation import is_known_action, validate
from .protocol.versions import OcppVersion, negotiate, parse_offered

log = logging.getLogger(__name__)
# The lines every handshake or socket writes, at most CSMS["LOG_LINES_PER_INTERVAL"] of
# each kind per LINE_INTERVAL_SECONDS and CSMS["LOG_LINES_PER_PEER"] of them for one
# client address, the rest counted (lib/log_summary.py): a reconnect storm or a flood of
# bad credentials is thousands a minute, and each line was 0.2 ms of the event loop; one
# flooding address cannot hide the others' lines. Every one is in the station's
# connection history and audit trail regardless.
LINE_INTERVAL_SECONDS = 10.0


def _lines() -> Summarised:
    return Summarised(log, LINE_INTERVAL_SECONDS, logging.INFO, burst=settings.CSMS["LOG_LINES_PER_INTERVAL"],
                      per_key=settings.CSMS["LOG_LINES_PER_PEER"])


_connected_lines, _disconnected_lines, _failed_lines, _refused_lines = _lines(), _lines(), _lines(), _lines()

ROUTERS = {OcppVersion.V16: v16.router, OcppVersion.V201: v201.router}
CLOSE_REPLACED = 4000  # a newer connection of the same station took over
CLOSE_NO_PROTOCOL = 1002
CLOSE_UNSUPPORTED_DATA = 1003  # RFC 6455 §7.4.1: a binary frame (OCPP-J is text only)
# What the connection proved is no longer valid: its keys were replaced (`station rekey`),
# or its token, TOTP secret or access token revoked (docs/station-auth.md).
CLOSE_CREDENTIALS_REVOKED = 4002
CLOSE_SERVER_RESTART = 1012  # what the ASGI server reports when it shuts down itself
# `station probe` marks its handshakes with this header: one that is let in is answered
# 101 and closed at once (1000), before it claims the station, so a probe runs beside
# the station's live connection without taking it over. It never skips a check: it only
# ends the connection earlier than any other (docs/station-auth.md, "Diagnostics").
PROBE_HEADER = b"chargegate-probe"
CLOSE_PROBE_DONE = 1000


def request_target(scope) -> bytes:
    """The handshake's request-target as the client wrote it (path and query): what a
    Digest `uri` must be (RFC 7616 §3.4)."""
    path = (scope.get("raw_path") or scope["path"].encode("utf-8")).split(b"?", 1)[0]
    query = scope.get("query_string") or b""
    return path + b"?" + query if query else path


def station_path(scope) -> tuple[str, str] | None:
    """(tenant slug, identity) from the raw request path `/ocpp/<tenant>/<identity>`.

    The raw path is used so that an identity containing an encoded "/" (%2F) stays one
    segment; each segment is then percent-decoded (OCPP-J 1.6 §3.1.1: "RDAM%20123").
    """
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    parts = raw.split(b"?", 1)[0].split(b"/")
    if len(parts) != 4 or parts[0] != b"" or parts[1] != b"ocpp" or not parts[2] or not parts[3]:
        return None
    try:
        return (unquote_to_bytes(parts[2]).decode("utf-8"),
                unquote_to_bytes(parts[3]).decode("utf-8"))
    except UnicodeDecodeError:
        return None


_connection_numbers = itertools.count(1)


class StationConsumer(AsyncWebsocketConsumer):
    station_id: int | None = None
    version: OcppVersion | None = None
    connection_seq: int | None = None
    group: str | None = None
    station = None  # this connection's copy of its Station row (`_fresh_station`)
    station_fresh_until: float = -math.inf  # monotonic time after which it is reloaded
    station_invalid = True  # an event may have changed it: reload before using it
    station_reloading = False  # a background reload is under way (`_answer`)
    station_events = 0  # how many events invalidated the copy (`_station_stale`)
    stamps_written_at: float = -math.inf  # never: the first message writes its stamps
    frame_budget = None  # flood.FrameBudget once connected

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stamps: dict = {}  # Station timestamp fields not yet handed over (`_stamp`)
        # Told how this socket ended (`lifecycle.After.watch_close`).
        self.close_watchers: list[lifecycle.CloseWatcher] = []
        self.recent = recent.Ring()  # its last frames, without payloads (`_seen`)
        # How it closed, as this end knows it: the code we closed with, or the station's.
        self.close_code: int | None = None
        self.close_reason = ""

    async def __call__(self, scope, receive, send):
        # Whatever ends this consumer (a disconnect, StopConsumer, an exception escaping a
        # handler or the channel layer, a cancellation), no task of it outlives it and its
        # station is not left shown connected. Shielded: a second cancellation must not
        # cut the cleanup short.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await asyncio.shield(self._shutdown())

    # --- handshake -------------------------------------------------------------------------

    async def websocket_connect(self, message):
        # Unique across processes (the node's own id) without a uuid4 per handshake,
        # whose os.urandom took 0.2 ms on these machines.
        self.connection_id = f"{liveness.NODE}.{next(_connection_numbers)}"
        self.book = CallBook()
        self.tasks: set[asyncio.Task] = set()
        self.pump_lock = asyncio.Lock()
        self.closing = False
        self.handshake_started = time.monotonic()
        try:
            await self._handshake()
        except Exception as exc:
            db_outage.failed(log, exc, "handshake")
            self._counted("busy")
            await self._deny(503, b"Service temporarily unavailable\n")

    def _counted(self, outcome: str, tenant: str = "-", method: str | None = None, *,
                 station=None, reason: str = "") -> None:
        """The handshake's outcome in the process's metrics (csms/handshake_metrics.py)
        and, once its station is known, in the audit trail (csms/auth_audit.py)."""
        if method is None:
            method = handshake_metrics.presented_scheme(
                [v for k, v in self.scope.get("headers", []) if k == b"authorization"])
        handshake_metrics.observe(outcome, self.handshake_started, tenant=tenant, method=method)
        if station is not None:
            auth_audit.record(auth_audit.Decision(station.tenant_id, station.pk, method, outcome, reason,
                                                  self._source()))

    def _source(self) -> str:
        """The client's address as the ASGI server saw it (after trusted proxy headers)."""
        return (self.scope.get("client") or ("unknown",))[0]

    async def _handshake(self):
        where = station_path(self.scope)
        if where is None:
            self._counted("unknown_station")
            await self._deny(404, b"Unknown charging station\n")
            return
        source = self._source()
        headers = self.scope.get("headers", [])
        authorization = [v for k, v in headers if k == b"authorization"]
        totp_header = [v for k, v in headers if k == b"totp"]  # totp-http-authentication.md §6
        found = await database_sync_to_async(services.station_for_handshake)(*where, authorization, totp_header)
        if found is None:
            self._counted("unknown_station")
            await self._deny(404, b"Unknown charging station\n")
            return
        station = found.station
        tenant = station.tenant.slug
        offered = parse_offered(", ".join(
            v.decode("latin-1") for k, v in headers if k == b"sec-websocket-protocol"))
        version = negotiate(offered, station.allowed_protocols)
        secrets = credentials.stored(station, source)
        subject = policy.subject(station, secrets.keys, version, found.rules, found.tokens, source, found.logins,
                                 secrets.digest, request_target(self.scope), found.totp, secrets.eap, found.bearer)
        result = await admission.decide(subject, tenant_slug=station.tenant.slug, source=source,
                                        authorization=authorization, totp_header=totp_header)
        if result.decision in (Decision.THROTTLED, Decision.BUSY):
            self._counted(result.decision.value, tenant, station=station, reason=result.reason)
            await self._refuse_for_now(result)
            return
        if result.decision is Decision.MALFORMED:
            self._counted("malformed", tenant, station=station, reason=result.reason)
            _failed_lines.log("station %s: malformed credentials (%s), from %s", station, result.reason, source,
                              key=source)
            await self._deny(400, b"Malformed Authorization header\n")
            return
        if result.decision is Decision.CHALLENGE:
            self._counted("challenged", tenant, station=station, reason=result.reason)
            _failed_lines.log("station %s: authentication failed (%s), from %s", station, result.reason, source,
                              key=source)
            await self._challenge(result.challenges)
            return
        if version is None:
            # OCPP-J 1.6 §3.2: complete the handshake without a subprotocol, then close.
            log.info("station %s: no agreeable subprotocol in %s, from %s", station, offered, source)
            self._counted("no_subprotocol", tenant, result.method, station=station, reason="no agreeable subprotocol")
            await self.accept()
            await self.close(code=CLOSE_NO_PROTOCOL)
            return
        if any(k == PROBE_HEADER for k, _ in headers):
            await self._answer_probe(station, subject, result, version)
            return

        self.station_id, self.version = station.pk, version
        self.station_label = str(station)
        self.frame_budget = flood.budget()
        # Which key this connection proved: it settles an outstanding key change.
        self.key_hash = result.key_hash
        self.group = station.group_name
        await liveness.ensure_beating()
        # Join the group before claiming, so a newer connection's takeover cannot slip
        # between the two and be missed.
        await self.channel_layer.group_add(self.group, self.channel_name)
        opened = await group_commit.run(
            services.open_connection, station.pk, self.connection_id, version.value, self.key_hash,
            result.method, result.token_id, tenant_id=station.tenant_id, user_agent=user_agent.of_headers(headers),
            source=source)
        self.connection_seq = opened.seq
        if not opened.key_valid:
            log.info("station %s: its key was retired or replaced during the handshake", station)
            self._counted("key_replaced", tenant, result.method, station=station,
                          reason="key retired or replaced during the handshake")
            await self._refuse_revoked(subject, result)
            return
        await self._accept_proven(version, result)
        self._counted("accepted", tenant, result.method, station=station)
        self.counted_connected = version.value
        handshake_metrics.CONNECTED.labels(version=version.value).inc()
        # The socket's one line: uvicorn's "[accepted]" for station paths is dropped
        # (portal.logging.SocketChatter), so this one says where it came from.
        _connected_lines.log("station %s connected (%s) from %s", self.station_label, version.value, source,
                             key=source)
        if self.connection_seq is None:  # the station was removed meanwhile
            await self._give_way()
            return
        if claim.needs_takeover(station, self.connection_seq):
            # Newest wins: any older socket of this station, on any node, closes itself.
            await self.channel_layer.group_send(self.group, {
                "type": "station.takeover", "connection_id": self.connection_id,
                "seq": self.connection_seq})
        if await self._follow(opened.after):  # what the calls its claim ended ask
            return
        if opened.work_queued:  # otherwise a nudge or the reconcile pass brings it
            self._spawn(self._pump())
        held.hold(self)

    async def _refuse_revoked(self, subject, result):
        """401: what the handshake proved was revoked or replaced meanwhile."""
        await self._challenge(challenges(subject, refused=(
            "bearer", bearer.refused(bearer.REVOKED)) if result.method == "bearer" else None))

    async def _accept_proven(self, version, result):
        """The 101, with Authentication-Info where the scheme has one: Digest's rspauth
        (the server's proof), EAP's Success."""
        await self.accept(version.value, [(b"authentication-info", result.info.encode("latin-1"))]
                          if result.info else None)

    async def _answer_probe(self, station, subject, result, version):
        """A probe let in: 101 and closed at once, never served. Nothing of the station
        changes (no claim, no proof recorded, its calls untouched); its audit event says
        `probed`. What it proved is checked once more, read only (a revoked access token
        is found only so)."""
        tenant = station.tenant.slug
        valid = await database_sync_to_async(services.proof_is_valid)(
            station.pk, result.method, result.key_hash, result.token_id, station.tenant_id)
        if not valid:
            self._counted("key_replaced", tenant, result.method, station=station,
                          reason="probe: the credentials were revoked or replaced")
            await self._refuse_revoked(subject, result)
            return
        self.closing = True  # before the 101: no frame of it is ever read
        await self._accept_proven(version, result)
        self._counted("probed", tenant, result.method, station=station,
                      reason="station probe: let in, closed before claiming the station")
        log.info("station %s: probe let in and closed (%s), from %s", station, result.method, self._source())
        await self.close(code=CLOSE_PROBE_DONE, reason="probe: authenticated, not served")

    async def _refuse_for_now(self, result):
        """429: this station (from here) or this address failed too often; 503: every
        hashing slot is taken. Either way nothing was checked; come back later."""
        source = self._source()
        _refused_lines.log("%s/%s: handshake refused before the key check (%s), from %s", *station_path(self.scope),
                           result.reason, source, key=source)
        status, body = (429, b"Too many failed attempts\n") if result.decision is Decision.THROTTLED \
            else (503, b"Busy; try again shortly\n")
        await self._deny(status, body, [(b"retry-after", str(max(1, result.retry_after)).encode("ascii"))])

    async def _challenge(self, values: list[str]):
        """401 with one WWW-Authenticate field per scheme the station may use."""
        await self._deny(401, b"Authentication required\n",
                         [(b"www-authenticate", value.encode("latin-1")) for value in values])

    async def _deny(self, status: int, body: bytes, headers=()):
        """Refuse the handshake with a real HTTP status (ASGI WebSocket Denial Response)."""
        self.closing = True
        if "websocket.http.response" in self.scope.get("extensions", {}):
            await self.base_send({
                "type": "websocket.http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), *headers],
            })
            await self.base_send({"type": "websocket.http.response.body", "body": body})
        else:  # a server without the extension can only say 403
            await self.close()

    # --- inbound frames ----------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.version is None or self.closing:
            return
        if text_data is None:
            log.info("station %s: binary frame refused", self.station_label)
            await self.close(code=CLOSE_UNSUPPORTED_DATA)
            await self._shutdown()
            return
        if self.frame_budget is not None:
            await self.frame_budget.spend(self.station_label)
            if self.closing:
                return
        self.frame_size = len(text_data)
        async with frame_work.turn(self.frame_size):
            await self._receive_text(text_data)

    async def _receive_text(self, text_data: str):
        size = recent.size_of(text_data)
        try:
            frame = await frame_work.run(self.frame_size, messages.parse_frame, text_data, self.version)
        except RpcError as exc:
            self._seen(recent.IN, recent.UNREADABLE, "", exc.message_id or "", size, recent.outcome_of(exc.problem, self.version))
            await self._send_error(exc)
            return
        except Exception:
            log.exception("station %s: unreadable frame", self.station_label)
            self._seen(recent.IN, recent.UNREADABLE, "", "", size, "InternalError")
            await self._send_error(RpcError(Problem.INTERNAL, "Internal error"))
            return
        if frame is None:
            self._seen(recent.IN, recent.UNREADABLE, "", "", size, "ignored: unknown message type")
            return  # 1.6: unknown message types are ignored
        if isinstance(frame, Call):
            await self._serve_call(frame, self._seen(recent.IN, recent.CALL, frame.action, frame.message_id, size))
        else:
            await self._take_answer(frame, size)

    async def _serve_call(self, call: Call, seen: int):
        try:
            response = await self._answer(call)
        except RpcError as exc:
            exc.message_id = call.message_id
            self._settle(seen, recent.outcome_of(exc.problem, self.version))
            await self._send_error(exc, call.action)
            return
        except Exception as exc:
            db_outage.failed(log, exc, "station %s: %s", self.station_label, call.action)
            self._settle(seen, "InternalError")
            await self._send_error(RpcError(Problem.INTERNAL, "Internal error",
                                            message_id=call.message_id), call.action)
            return
        await self._send_frame(CallResult(call.message_id, response), call.action)
        router = ROUTERS[self.version]
        if call.action in router.after_hooks:
            try:
                await database_sync_to_async(router.run_after)(
                    self.station, call.action, messages.to_plain(call.payload), response)
            except Exception as exc:
                db_outage.failed(log, exc, "station %s: work after %s", self.station_label, call.action)
        if call.action == Action.boot_notification:
            # A (re)boot is a natural moment to deliver queued work. (It is no evidence
            # of a restart: stations repeat a Pending boot on the same socket.)
            self._spawn(self._pump())

    async def _answer(self, call: Call) -> dict:
        router = ROUTERS[self.version]
        if not is_known_action(self.version, call.action):
            raise RpcError(Problem.NOT_IMPLEMENTED, f"Unknown action {call.action}")
        if not router.serves(call.action):
            raise RpcError(Problem.NOT_SUPPORTED, f"{call.action} is not supported by this CSMS")
        await frame_work.run(self.frame_size, validate, self.version, call.action, call.payload,
                             message_id=call.message_id)
        handler = router.handlers[call.action]
        if handler.on_loop and self.station is not None and not self.station_invalid:
            # No database work (a Heartbeat): answered here, without a thread hop. A copy
            # past its time is reloaded in the background rather than in the answer's
            # way: stations that connected together reload together, and those bursts on
            # the database threads held up Heartbeats (p99 365 ms at half of peak).
            if time.monotonic() >= self.station_fresh_until and not self.station_reloading:
                self._spawn(self._reload_station())
            response = router.dispatch(self.station, call.action, messages.to_plain(call.payload),
                                       call.message_id)
        elif self.frame_size < OFFLOAD_BYTES:
            # Committed with the other stations' writes of the moment (csms/group_commit.py);
            # answered after that commit.
            response = await group_commit.run(self._dispatch, call)
        else:  # a large frame's work must not hold up everyone's batch
            response = await database_sync_to_async(self._dispatch)(call)
        try:
            validate(self.version, call.action, response, response=True)
        except RpcError as exc:
            # Our own answer is wrong: the station must not be blamed for it.
            log.error("station %s: invalid %s response: %s",
                      self.station_label, call.action, exc.description)
            raise RpcError(Problem.INTERNAL, "Internal error") from None
        self._stamp(handler.stamps)
        return response

    def _fresh_station(self, action: str):
        """The station row for a handler (on a database thread): the connection's copy,
        reloaded at a BootNotification (when an operator's acceptance is looked for),
        after an event that may have changed it, and when past its time (STATION_FRESH_SECONDS,
        less a random part so that stations that connected together do not reload
        together). Loading it per message was a third of a Heartbeat's cost (issue 9)."""
        if (self.station is None or self.station_invalid or action == Action.boot_notification
                or time.monotonic() >= self.station_fresh_until):
            self._keep_station(services.load_station(self.station_id))
        return self.station

    def _keep_station(self, station, events_before: int | None = None):
        """Keep a freshly loaded row; still invalid if an event came while it loaded."""
        self.station = station
        self.station_invalid = events_before is not None and events_before != self.station_events
        fresh = settings.CSMS["STATION_FRESH_SECONDS"]
        self.station_fresh_until = time.monotonic() + fresh * random.uniform(0.5, 1.0)

    async def _reload_station(self):
        self.station_reloading, events = True, self.station_events
        try:
            self._keep_station(await database_sync_to_async(services.load_station)(self.station_id), events)
        finally:
            self.station_reloading = False

    def _dispatch(self, call: Call) -> dict:
        return ROUTERS[self.version].dispatch(
            self._fresh_station(call.action), call.action, messages.to_plain(call.payload),
            call.message_id)

    def _station_stale(self) -> None:
        self.station_invalid = True
        self.station_events += 1

    def _stamp(self, field: str = ""):
        """Note that the station was seen now (and `field`, e.g. its Heartbeat, happened
        now); handed to the process's stamp writer (csms/stamps.py) at most once per
        STAMP_SECONDS and when the connection closes. Pure state for people: a commit
        per Heartbeat was most of its cost (issue 9)."""
        now = timezone.now()
        self.stamps["last_seen_at"] = now
        if field:
            self.stamps[field] = now
        if time.monotonic() - self.stamps_written_at >= settings.CSMS["STAMP_SECONDS"]:
            self._hand_over_stamps()

    def _hand_over_stamps(self):
        pending, self.stamps = self.stamps, {}
        self.stamps_written_at = time.monotonic()
        if pending:
            stamps.note(self.station_id, pending)

    async def _send_error(self, exc: RpcError, action: str = ""):
        frame = messages.call_error_for(exc, self.version)
        if frame is not None:
            await self._send_frame(frame, action)

    async def _send_frame(self, frame: Call | CallResult | CallError, action: str):
        """Send one frame (for `action`, the one it calls or answers), noted in the ring."""
        text = messages.encode(frame)
        self._seen(recent.OUT, recent.KINDS[type(frame)], action, frame.message_id, recent.size_of(text),
                   frame.error_code if isinstance(frame, CallError) else "")
        await self.send(text)

    def _seen(self, direction: str, kind: str, action: str, message_id: str, size: int,
              outcome: str = "") -> int:
        """Note a frame in the connection's ring (its ticket for `_settle`); the first
        change since the ring was last written asks for the next write
        (csms/recent_frames.py). Memory only: no write per frame."""
        if not self.recent.dirty and self.connection_seq is not None:
            recent_frames.changed(self.station_id, self.connection_seq, self.recent)
        return self.recent.record(direction, kind, action, message_id, size, outcome)

    def _settle(self, seen: int, outcome: str) -> None:
        """What became of a frame noted earlier (`_seen`)."""
        if not self.recent.dirty and self.connection_seq is not None:
            recent_frames.changed(self.station_id, self.connection_seq, self.recent)
        self.recent.settle(seen, outcome)

    # --- CSMS-initiated calls --------------------------------------------------------------

    async def _take_answer(self, answer: CallResult | CallError, size: int):
        outstanding = self.book.match(answer)
        seen = self._seen(recent.IN, recent.KINDS[type(answer)], outstanding.call.action if outstanding else "",
                          answer.message_id, size, answer.error_code if isinstance(answer, CallError) else "")
        if outstanding is None:
            self._settle(seen, "ignored: answers no call")
            log.info("station %s: answer to unknown call %s ignored",
                     self.station_label, answer.message_id)
            return
        try:
            after = await self._record_answer(*outstanding.ref, outstanding.call.action, answer, seen)
        except Exception as exc:
            db_outage.failed(log, exc, "station %s: recording the answer to %s",
                             self.station_label, outstanding.call.action)
        else:
            if await self._follow(after):
                return
        await self._pump()

    async def _record_answer(self, call_id: int, purpose: str, action: str,
                             answer: CallResult | CallError, seen: int) -> lifecycle.After | None:
        settle = database_sync_to_async(lifecycle.settle)
        where = (call_id, self.station_id, purpose)
        if isinstance(answer, CallError):
            return await settle(*where, StationCall.State.ERROR, self.version.value,
                                error_code=answer.error_code,
                                error_description=answer.error_description)
        try:
            validate(self.version, action, answer.payload, response=True)
        except RpcError as exc:  # an answer we cannot read tells us nothing
            self._settle(seen, recent.REJECTED_BY_SCHEMA)
            return await settle(*where, StationCall.State.ERROR, self.version.value,
                                error_code=error_code(self.version, exc.problem) or "",
                                error_description=f"invalid {action} response: {exc.description}")
        payload = services.scrub_response(action, messages.to_plain(answer.payload))
        return await settle(*where, StationCall.State.ANSWERED, self.version.value, response=payload)

    async def _follow(self, after: lifecycle.After | None) -> bool:
        """Do what a call's purpose asked after its hook ran; True if the socket closed."""
        if after is None:  # the call had been ended already (`lifecycle.settle`)
            return False
        if after.station_changed:
            self._station_stale()
        self.close_watchers.extend(after.watch_close)
        if after.close is None:
            return False
        return await self._end(after.close.code, after.close.reason, f"closing ({after.close.reason})")

    async def _pump(self):
        """Send the next queued call if none is outstanding.

        Never raises: a failure is logged and the reconcile loop tries again later.
        """
        try:
            async with self.pump_lock:
                while not self.book.busy and not self.closing:
                    if not await self._send_next_call():
                        return
        except Exception as exc:
            db_outage.failed(log, exc, "station %s: delivering queued calls", self.station_label)

    async def _send_next_call(self) -> bool:
        """Claim and send one queued call; False when there is none.

        The station may leave at any await below: its disconnect cancels this task
        (`_shutdown`). A call claimed whose frame has not left is then put back, not left
        `sent` with nobody to answer it (`_put_back_unsent`)."""
        claim = asyncio.ensure_future(database_sync_to_async(services.claim_next_call)(
            self.station_id, self.connection_id))
        try:
            row = await asyncio.shield(claim)
        except asyncio.CancelledError:
            await self._put_back_unsent(await claim)  # the claim itself runs to its end
            raise
        if row is None:
            return False
        try:
            return await self._prepare_and_send(row)
        except asyncio.CancelledError:
            if not getattr(row, "on_the_wire", False):
                if self.book.outstanding is not None and self.book.outstanding.ref == (row.pk, row.purpose):
                    self.book.abandon()
                await self._put_back_unsent(row)
            raise

    async def _put_back_unsent(self, row: StationCall | None):
        """The connection ended between claiming `row` and sending it: an ordinary
        disconnect. It goes back to the queue for the next connection (or ends, if its
        purpose says a frame that never left must not be retried)."""
        if row is None:
            return
        log.info("station %s: disconnected before %s could be sent; it stays queued",
                 self.station_label, row.action)
        if lifecycle.of(row.purpose).requeue_when_not_sent:
            put_back = database_sync_to_async(services.requeue_call)(row.pk)
        else:  # ended as the shutdown ends an unanswered one
            put_back = database_sync_to_async(lifecycle.settle)(
                row.pk, self.station_id, row.purpose, StationCall.State.LOST, self.version.value,
                error_description="connection closed")
        await asyncio.shield(asyncio.ensure_future(put_back))

    async def _prepare_and_send(self, row: StationCall) -> bool:
        purpose = lifecycle.of(row.purpose)
        try:
            if purpose.prepares_at_send:
                action, payload = await database_sync_to_async(purpose.prepare)(row, self.version)
            else:
                action, payload = purpose.prepare(row, self.version)
            if not is_known_action(self.version, action):
                raise RpcError(Problem.NOT_IMPLEMENTED,
                               f"{action} is not an OCPP {self.version.label} action")
            validate(self.version, action, payload)
        except Exception as exc:
            if isinstance(exc, RpcError):
                reason = exc.description
            elif isinstance(exc, lifecycle.Unsendable):
                reason = str(exc)
            else:
                reason = "could not be prepared"
                log.exception("station %s: preparing %s failed", self.station_label, row.action)
            await database_sync_to_async(lifecycle.unsendable)(row.pk, row.purpose, reason)
            return True
        loop = asyncio.get_running_loop()
        timeout = settings.CSMS["CALL_TIMEOUT_SECONDS"]
        frame = self.book.start(action, payload, (row.pk, row.purpose), loop.time(), timeout)
        # The timer first: whatever fails below, the call cannot stay outstanding forever.
        self._spawn(self._expire_after(timeout))
        await database_sync_to_async(services.record_sent)(
            row.pk, frame.message_id, self.version.value)
        row.on_the_wire = True  # from here it may have reached the station
        try:
            await self._send_frame(frame, action)
        except Exception:  # the ASGI server says the socket is gone
            await self._not_sent(row)
            return False
        return True

    async def _not_sent(self, row: StationCall):
        """The frame never left: the call goes back to the queue for the station's next
        connection, unless its purpose says otherwise (then the shutdown ends it as
        lost). Then this connection ends."""
        log.info("station %s: socket gone before %s could be sent", self.station_label, row.action)
        try:
            if lifecycle.of(row.purpose).requeue_when_not_sent:
                self.book.abandon()
                await database_sync_to_async(services.requeue_call)(row.pk)
        finally:
            await self._shutdown()

    async def _expire_after(self, seconds: float):
        await asyncio.sleep(seconds)
        expired = self.book.expire(asyncio.get_running_loop().time())
        if expired is not None:
            log.info("station %s: %s timed out", self.station_label, expired.call.action)
            call_id, purpose = expired.ref
            after = await database_sync_to_async(lifecycle.settle)(
                call_id, self.station_id, purpose, StationCall.State.TIMEOUT, self.version.value,
                error_description="no answer in time")
            if not await self._follow(after):
                await self._pump()

    def reconcile_soon(self, findings: held.Findings):
        """The process's reconcile pass (csms/held.py) found something for this station."""
        if not self.closing:
            self._spawn(self._reconcile(findings))

    async def _reconcile(self, findings: held.Findings):
        """Give way to a newer connection, close a revoked one, run the housekeeping of
        an open key change (`lifecycle.housekeeping`), deliver queued work."""
        if findings.holder == announce.NO_CONNECTION:
            await self.station_disconnect({})
            return
        if findings.holder != self.connection_id:
            await self._give_way()
            return
        if findings.change_open:
            try:
                after = await database_sync_to_async(lifecycle.housekeeping)(self.station_id)
            except Exception as exc:
                db_outage.failed(log, exc, "station %s: housekeeping", self.station_label,
                                 level=logging.WARNING)
            else:
                if await self._follow(after):
                    return
        if findings.queued:
            await self._pump()

    # --- channel-layer events ----------------------------------------------------------------

    async def dispatch(self, message):
        # An event this code has no handler for (sent by a newer node during a rolling
        # deploy, say) is ignored: Channels would raise and end the station's connection.
        kind = str(message.get("type", ""))
        handler = None if kind.startswith("_") else getattr(self, kind.replace(".", "_"), None)
        if handler is None:
            if kind.startswith("websocket."):
                raise ValueError(f"no handler for {kind}")
            log.warning("station %s: ignored channel-layer event %.60r without a handler",
                        getattr(self, "station_label", "?"), kind)
            return
        # Not Channels' dispatch: it hops to a thread to close stale database connections
        # before every frame (a tenth of a Heartbeat's cost), which the station database
        # pool does around each of its own calls (csms/db.py).
        await handler(message)

    async def station_nudge(self, event):
        self._spawn(self._pump())

    async def station_takeover(self, event):
        if event["connection_id"] != self.connection_id and services.supersedes(
                event.get("seq"), getattr(self, "connection_seq", None)):
            await self._give_way()

    async def station_changed(self, event):
        self._station_stale()

    async def station_disconnect(self, event):
        if event.get("connection_id", self.connection_id) != self.connection_id:
            return  # meant for another of the station's connections (one opened with a revoked token)
        await self._end(CLOSE_CREDENTIALS_REVOKED, "credentials revoked",
                        "disconnected, the credentials it proved were replaced or revoked")

    async def _give_way(self):
        await self._end(CLOSE_REPLACED, "replaced by a newer connection", "replaced by a newer connection")

    async def _end(self, code: int, reason: str, why: str) -> bool:
        """Close the socket with `code` and end this connection, unless it is ending
        already; True if this call closed it."""
        if self.closing:
            return False
        log.info("station %s: %s", self.station_label, why)
        await self.close(code=code, reason=reason)
        await self._shutdown()
        return True

    # --- drain (csms/drain.py): this process is stopping ------------------------------------

    @property
    def busy(self) -> bool:
        """A call to the station is outstanding or being sent: a draining process lets its
        answer arrive before closing (it starts no new one: `services.claim_next_call`)."""
        return self.book.busy or self.pump_lock.locked()

    async def drain_close(self):
        """Close with 1012 (service restart): the station reconnects to another node."""
        await self._end(CLOSE_SERVER_RESTART, "server restarting", "handed on (this server is stopping)")

    # --- teardown -------------------------------------------------------------------------

    async def close(self, code=None, reason=None):
        if self.close_code is None:  # the first close is the one that counts
            self.close_code, self.close_reason = code or 1000, reason or "closed by the CSMS"
        await super().close(code=code, reason=reason)

    async def websocket_disconnect(self, message):
        # Closed by the station itself: not by us, nor by this server shutting down.
        by_station = not self.closing and message.get("code") != CLOSE_SERVER_RESTART
        if self.close_code is None:
            self.close_code, self.close_reason = _closed_by_the_station(message)
        for watcher in self.close_watchers:
            try:
                await database_sync_to_async(watcher)(self.station_id, by_station)
            except Exception as exc:
                db_outage.failed(log, exc, "station %s: recording how its socket closed",
                                 self.station_label, level=logging.WARNING)
        await self._shutdown()
        raise StopConsumer()

    async def _shutdown(self):
        if getattr(self, "_shut", False):
            return
        self._shut = True
        self.closing = True
        if getattr(self, "counted_connected", None):
            handshake_metrics.CONNECTED.labels(version=self.counted_connected).dec()
        held.release(self)
        current = asyncio.current_task()
        for task in list(getattr(self, "tasks", ())):
            if task is not current:
                task.cancel()
        if self.station_id is None:
            return
        # Each step on its own: a failing one must not leave the station shown connected.
        try:
            await self._abandon_outstanding()
        except Exception as exc:
            db_outage.failed(log, exc, "station %s: recording its lost call", self.station_label,
                             level=logging.WARNING)
        self._hand_over_stamps()
        if self.connection_seq is not None:
            recent_frames.forget(self.station_id, self.connection_seq)
        try:
            await group_commit.run(services.close_connection, self.station_id, self.connection_id,
                                   self.connection_seq, self.close_code, self.close_reason,
                                   self.recent.snapshot())
        except Exception as exc:
            db_outage.failed(log, exc, "station %s: marking it offline", self.station_label,
                             level=logging.WARNING)
        try:
            if self.group is not None:
                await self.channel_layer.group_discard(self.group, self.channel_name)
        except Exception:  # its messages expire unread
            log.warning("station %s: leaving its group failed", self.station_label, exc_info=True)
        _disconnected_lines.log("station %s disconnected", self.station_label, key=self._source())

    async def _abandon_outstanding(self):
        lost = self.book.abandon()
        if lost is not None:
            call_id, purpose = lost.ref
            await database_sync_to_async(lifecycle.settle)(
                call_id, self.station_id, purpose, StationCall.State.LOST, self.version.value,
                error_description="connection closed")

    def _spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(_log_failure)
        return task


def _closed_by_the_station(message) -> tuple[int | None, str]:
    """The code and reason of a close this end did not start (1006: no close frame came)."""
    code = message.get("code")
    said = recent.printable(str(message.get("reason") or ""), 100)
    if code == 1006:
        return code, "connection lost (no close frame)"
    if code == CLOSE_SERVER_RESTART:
        return code, "server restarting"
    return code, f"closed by the station: {said}" if said else "closed by the station"


def _log_failure(task: asyncio.Task):
    if not task.cancelled() and task.exception() is not None:
        db_outage.failed(log, task.exception(), "station task")

"""A PostgreSQL restart, drilled: the database goes away under a live server at load and
comes back (issue 9, "Drills").

The server's database is a proxy (tests/tcp_proxy.py) that the test switches off
(every connection dropped, new ones refused, as while PostgreSQL restarts) and on.
Stations (the `ocpp` library's ChargePoint over `websockets`) send MeterValues,
StartTransaction, StatusNotification and Heartbeat all the while and reconnect every
RECONNECT_SECONDS when refused or dropped. What a user must see:

* every message the server answered with a CALLRESULT is in the database afterwards;
  a message that needs the database, sent while it is down, gets a CALLERROR or no
  answer, never a false success;
* Heartbeats (answered on the event loop) are answered throughout;
* a handshake during the outage is refused at once with a 503 (no hang, no crash), and
  every station is back within its reconnect interval once the database is;
* the process lives on, says so in a bounded number of log lines, and no secret
  (station keys, the database password) appears in its log;
* a key change in flight across the outage ends with the station not locked out and
  exactly one change applied.
"""
import asyncio
import contextlib
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
import websockets
from django.db import connection
from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16

from csms import tasks
from csms.auth.keys import verify_secret
from csms.models import ConnectorStatus, CredentialChange, MeterValue, Station, StationCall, Transaction
from tests import keyed_station as ks
from tests.conftest import wait_for_other_sessions_to_end
from tests.csms.test_rotation_e2e import cred, rotate, settled
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.live import LiveServer
from tests.stations import Station16, open_socket
from tests.tcp_proxy import PostgresProxy
from tests.waiting import async_eventually, eventually

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
                       reason="needs a PostgreSQL DATABASE_URL (runs in CI's PostgreSQL pass)"),
]

RECONNECT_SECONDS = 1.0  # how often a refused or dropped station tries again
OUTAGE_SECONDS = 4.0
# The server's database password: PostgreSQL here trusts loopback and ignores it, so
# it only has to stay out of the log.
DB_PASSWORD = "pgdrill-Secret-9f3c"


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port or 5432}"))


@pytest.fixture
def pg_proxy():
    proxy = PostgresProxy(with_password(os.environ["DATABASE_URL"], DB_PASSWORD)).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def start_server(pg_proxy, transactional_db, live_log_dir):
    """Starts a live server whose database is the proxy."""
    servers = []

    def start():
        servers.append(LiveServer(connection.settings_dict["NAME"], live_log_dir, name="pg-outage", extra_env={
            "DATABASE_URL": pg_proxy.url(), "CSMS_STAMP_FLUSH_SECONDS": "0.2"}).start())
        return servers[-1]

    yield start
    pg_proxy.up()  # whatever happened, the servers' connections may close cleanly
    for server in servers:
        server.stop()
    wait_for_other_sessions_to_end()


def probe(server, path: str) -> int:
    try:
        with urllib.request.urlopen(server.http + path, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def outage_lines(server) -> list[str]:
    """What the log says beyond the routine: warnings, errors, tracebacks' lines."""
    return [line for line in server.log().splitlines()
            if " WARNING " in line or " ERROR " in line or line.startswith(("ERROR:", "Traceback", "  File "))]


@dataclass
class Sent:
    kind: str
    key: int  # what makes this message findable in the database
    at: float  # monotonic, when it was sent
    done_at: float = 0.0  # when its answer (or the lack of one) was known
    outcome: str = ""  # answered | error | no answer | closed
    answer: object = None


@dataclass
class Handshake:
    at: float
    status: int | str  # 101, an HTTP status, or "refused" (nothing listening) / "timeout"
    took: float


@dataclass
class LoadStation:
    """A station under load: one message after another, reconnecting when dropped."""

    server: LiveServer
    identity: str
    sent: list[Sent] = field(default_factory=list)
    handshakes: list[Handshake] = field(default_factory=list)
    serial = 0

    def next_key(self) -> int:
        self.serial += 1
        return self.serial

    async def connect(self, stop: asyncio.Event):
        while not stop.is_set():
            started = time.monotonic()
            try:
                ws = await open_socket(self.server, "acme", self.identity, AL1000_KEY)
            except websockets.InvalidStatus as exc:
                status = exc.response.status_code
            except (OSError, TimeoutError) as exc:
                status = "timeout" if isinstance(exc, TimeoutError) else "refused"
            else:
                self.handshakes.append(Handshake(started, 101, time.monotonic() - started))
                return ws
            self.handshakes.append(Handshake(started, status, time.monotonic() - started))
            assert status != 401, f"{self.identity} locked out"
            await asyncio.sleep(RECONNECT_SECONDS)
        return None

    def message(self, n: int):
        key = self.next_key()
        now = datetime.now(UTC) + timedelta(microseconds=key)  # distinct per message
        stamp = now.isoformat().replace("+00:00", "Z")
        kind = ("MeterValues", "StartTransaction", "StatusNotification", "Heartbeat")[n % 4]
        if kind == "MeterValues":
            payload = call16.MeterValues(connector_id=1, meter_value=[{
                "timestamp": stamp, "sampledValue": [{"value": str(key)}]}])
        elif kind == "StartTransaction":
            payload = call16.StartTransaction(connector_id=1, id_tag=f"T{key}", meter_start=key,
                                              timestamp=stamp)
        elif kind == "StatusNotification":  # one connector per message: each has its row
            payload = call16.StatusNotification(connector_id=key, error_code="NoError",
                                                status="Available", info=f"m{key}", timestamp=stamp)
        else:
            payload = call16.Heartbeat()
        return Sent(kind, key, 0.0), payload

    async def run(self, stop: asyncio.Event):
        n = 0
        while not stop.is_set():
            ws = await self.connect(stop)
            if ws is None:
                return
            cp = Station16(self.identity, ws, response_timeout=3)
            task = asyncio.create_task(cp.start())
            try:
                booted = await cp.call(call16.BootNotification(charge_point_model="Drill",
                                                               charge_point_vendor="Tests"), suppress=False)
                assert booted.status == "Accepted"
                while not stop.is_set():
                    sent, payload = self.message(n)
                    n += 1
                    sent.at = time.monotonic()
                    self.sent.append(sent)
                    try:
                        sent.answer = await cp.call(payload, suppress=False)
                        sent.outcome = "answered"
                    except OCPPError:
                        sent.outcome = "error"
                    except TimeoutError:
                        sent.outcome = "no answer"
                    sent.done_at = time.monotonic()
                    await asyncio.sleep(0.12)  # under the flood limit (10 frames a second)
            except (websockets.ConnectionClosed, OCPPError, TimeoutError):
                if self.sent and not self.sent[-1].outcome:
                    self.sent[-1].outcome = "closed"
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                await ws.close()


def stored(station_id: int, sent: Sent) -> bool:
    if sent.kind == "MeterValues":
        return MeterValue.objects.filter(station_id=station_id,
                                         sampled_values=[{"value": str(sent.key)}]).exists()
    if sent.kind == "StartTransaction":
        return Transaction.objects.filter(station_id=station_id, pk=sent.answer.transaction_id,
                                          id_tag=f"T{sent.key}").exists()
    if sent.kind == "StatusNotification":
        return ConnectorStatus.objects.filter(station_id=station_id, connector_id=sent.key,
                                              info=f"m{sent.key}").exists()
    return True  # a Heartbeat writes nothing a user would miss


def test_stations_under_load_ride_out_a_postgres_restart(start_server, pg_proxy, run):
    server = start_server()
    tenant = make_tenant("acme")
    rows = {r.identity: r.pk for r in (make_station(tenant, f"CP{i}", AL1000_KEY) for i in range(6))}
    make_station(tenant, "LATE", AL1000_KEY)
    stations = [LoadStation(server, identity) for identity in rows]

    async def scenario():
        stop = asyncio.Event()
        load = [asyncio.create_task(s.run(stop)) for s in stations]
        await async_eventually(lambda: Station.objects.filter(connected=True).count() == len(rows))
        await asyncio.sleep(2)
        pg_proxy.down()
        down_at = time.monotonic()
        await asyncio.sleep(1)
        # A station connecting during the outage: refused at once, with a 503.
        late = LoadStation(server, "LATE")
        started = time.monotonic()
        with pytest.raises(websockets.InvalidStatus) as refused:
            await open_socket(server, "acme", "LATE", AL1000_KEY)
        during = Handshake(started, refused.value.response.status_code, time.monotonic() - started)
        alive_during = await asyncio.to_thread(lambda: server.proc.poll() is None)
        probes_during = await asyncio.to_thread(lambda: (probe(server, "/livez"), probe(server, "/healthz")))
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        up_at = time.monotonic()
        pg_proxy.up()
        late_stop = asyncio.Event()
        late_ws = await asyncio.wait_for(late.connect(late_stop), 10)
        late_took = time.monotonic() - up_at
        await late_ws.close()
        ready_again = await async_eventually(lambda: probe(server, "/healthz") == 200, timeout=5)
        await asyncio.sleep(RECONNECT_SECONDS + 4)  # everyone reconnected, working again
        stop.set()
        await asyncio.gather(*load)
        return down_at, up_at, during, alive_during, late_took, probes_during, ready_again

    down_at, up_at, during, alive_during, late_took, probes_during, ready_again = run(scenario(), timeout=90)

    assert alive_during and server.proc.poll() is None
    # Alive, not ready (a load balancer sends no new stations), and ready again after.
    assert probes_during == (200, 503) and ready_again
    assert during.status == 503 and during.took < 2, during
    assert late_took < RECONNECT_SECONDS + 2, late_took

    for s in stations:
        answered = [m for m in s.sent if m.outcome == "answered"]
        # No acknowledged message lost.
        lost = [m for m in answered if not stored(rows[s.identity], m)]
        assert lost == [], (s.identity, [(m, round(m.at - down_at, 3)) for m in lost])
        # No false success: a message needing the database, sent and answered while it
        # was down.
        false = [m for m in answered if m.kind != "Heartbeat" and down_at < m.at and m.done_at < up_at]
        assert false == [], (s.identity, [(m, round(m.at - down_at, 3)) for m in false])
        # ... they were refused, there was an outage (a CALLERROR: its sockets stayed open).
        assert any(m.outcome == "error" and down_at < m.at < up_at for m in s.sent), s.identity
        # Heartbeats answered on the loop throughout.
        beats = [m for m in s.sent if m.kind == "Heartbeat" and down_at < m.at < up_at]
        assert beats and all(m.outcome == "answered" for m in beats), (s.identity, beats)
        # Back at work within its reconnect interval of the database's return.
        back = [m for m in answered if m.kind != "Heartbeat" and m.at > up_at]
        assert back and back[0].at - up_at < RECONNECT_SECONDS + 3, (s.identity, back[:1])
        refused = [h for h in s.handshakes if h.status != 101]
        assert all(h.status == 503 and h.took < 2 for h in refused), (s.identity, refused)

    eventually(lambda: Station.objects.filter(connected=True).count() == 0)  # all left cleanly
    log = server.log()
    assert DB_PASSWORD not in log
    assert AL1000_KEY.hex() not in log.lower()
    assert "Exception in ASGI application" not in log
    lines = outage_lines(server)
    assert len(lines) <= 40, f"{len(lines)} lines about the outage:\n" + "\n".join(lines[:80])


class CutsTheDatabase(ks.KeyedStation):
    """Applies the key it is sent and answers Accepted, after cutting the database off
    if `cut` is set: the answer reaches a server that cannot record it."""

    cut = None

    async def take_key(self, secret: bytes):
        self.keys_received.append(secret.hex())
        self.password = secret
        if self.cut is not None:
            self.cut()
        return "Accepted"


async def get_in(st, deadline_seconds=20) -> list:
    """Connect with the key held, every RECONNECT_SECONDS while refused; a 401 is a lockout."""
    statuses = []
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            await st.connect()
            return statuses
        except websockets.InvalidStatus as exc:
            statuses.append(exc.response.status_code)
            assert exc.response.status_code != 401, f"locked out at {st.password.hex()}"
        assert time.monotonic() < deadline, f"never got back in: {statuses}"
        await asyncio.sleep(RECONNECT_SECONDS)


@pytest.mark.parametrize("moment", ["the answer is on its way", "the station reconnects with the new key"])
def test_a_key_change_across_a_postgres_restart_applies_once(start_server, pg_proxy, run, moment):
    server = start_server()
    row = make_station(make_tenant("acme", rotation_grace_seconds=1), "CP1", AL1000_KEY)
    st = CutsTheDatabase(server, "acme", "CP1", AL1000_KEY)
    if moment == "the answer is on its way":
        st.cut = pg_proxy.down

    async def scenario():
        await st.connect()
        await st.boot()
        await rotate()
        await async_eventually(lambda: st.keys_received, timeout=15)
        if moment != "the answer is on its way":
            await async_eventually(lambda: CredentialChange.objects.get(station=row).answered_at, timeout=15)
            pg_proxy.down()
        await asyncio.sleep(0.2)
        await st.disconnect()  # it restarts its connection with the new key, as firmware does
        up = asyncio.get_running_loop().call_later(OUTAGE_SECONDS, pg_proxy.up)
        refusals = await get_in(st)
        up.cancel()
        pg_proxy.up()
        await st.boot()
        change = await async_eventually(settled, timeout=30)
        await st.disconnect()
        return change, refusals

    change, refusals = run(scenario(), timeout=90)
    assert refusals and set(refusals) == {503}, refusals
    # The new key proved it (the station came back with it), whether or not its answer
    # could be recorded. An answer lost in the outage shows as such: the station's new
    # connection ended the call as dropped, and its proof then settled the change.
    assert change.state == "succeeded"
    assert change.outcome == ("Dropped" if moment == "the answer is on its way" else "Accepted")
    assert CredentialChange.objects.filter(station=row).count() == 1
    assert len(st.keys_received) == 1
    held = cred()
    assert held.phase == "idle" and not held.pending_hash and not held.previous_hash
    assert verify_secret(st.password, held.current_hash), "the key the station holds is the valid one"
    # An answer that arrived while the database was down is not recorded, nor is the
    # loss of its socket: the station's next connection ended the call as lost (above),
    # and nothing is left in flight for the orphan reaper.
    left = StationCall.objects.filter(station=row, state__in=["queued", "sent"])
    if moment == "the answer is on its way":
        lost = StationCall.objects.get(station=row, purpose="credential")
        assert lost.state == "lost" and "new connection" in lost.error_description
        assert tasks.reap_orphaned_calls() == 0
    assert not left.exists()
    log = server.log()
    assert DB_PASSWORD not in log and st.password.hex() not in log.lower()
    assert server.proc.poll() is None

"""Scale-out: several server processes on one database and Redis, and leaving without a storm.

A station connected to one process gets commands issued through another. A process told
to stop (SIGTERM) drains (csms/drain.py): it refuses new station handshakes, says so on
its readiness check, starts no new call, lets an outstanding one be answered, and closes
its sockets with 1012 spread over CSMS_DRAIN_SECONDS, so its stations reconnect to the
other processes gradually; work queued meanwhile reaches them there. A second signal
stops at once.

The tests with two processes need Redis (the documented production topology: the
in-memory channel layer does not reach across processes); the single-process drain runs
on the embedded defaults too.
"""
import asyncio
import base64
import contextlib
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

import pytest
import websockets
from django.contrib.auth import get_user_model

from csms import services
from csms.models import CredentialChange, Station, StationCall
from tenants.models import Membership, Role
from tests import keyed_station as ks
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.live import REPO
from tests.stations import Station16, open_socket
from tests.waiting import async_eventually, in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)
needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                                 reason="needs REDIS_URL (runs in CI's Redis pass)")

WINDOW = 3.0  # CSMS_DRAIN_SECONDS in these tests
STATIONS = 8
SLOW_ANSWER = 1.0  # seconds one station takes to answer the call outstanding at SIGTERM
# Channel-layer events, not the reconcile pass, must carry the work between processes.
NO_POLLING = {"CSMS_RECONCILE_SECONDS": "60"}
PASSWORD = "pw-123456789-abc"


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def post(url: str, user: str, password: str) -> tuple[int, dict]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, data=b"{}", method="POST", headers={
        "Authorization": f"Basic {auth}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class Rider:
    """A station that stays on the network: it notes when and how its socket closed and,
    if told where, connects there at once (a real station's reconnect)."""

    def __init__(self, identity: str):
        self.identity = identity
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.cp: Station16 | None = None
        self.ws = None
        self.reconnected = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def connect(self, server):
        ws = self.ws = await open_socket(server, "acme", self.identity, AL1000_KEY)
        previous = self.cp
        self.cp = Station16(self.identity, ws, response_timeout=10)
        if previous is not None:  # one station, one configuration, across its sockets
            self.cp.delays, self.cp.received = previous.delays, previous.received
        self._tasks.append(asyncio.create_task(self._serve(self.cp)))
        return ws

    async def ride(self, server, then=None):
        """Connected to `server` now; on its close, to `then`."""
        ws = await self.connect(server)
        self._tasks.append(asyncio.create_task(self._watch(ws, then)))

    async def _serve(self, cp):
        with contextlib.suppress(websockets.ConnectionClosed):
            await cp.start()

    async def _watch(self, ws, then):
        await ws.wait_closed()
        self.closed_at, self.close_code = time.monotonic(), ws.close_code
        if then is not None:
            await self.connect(then)
            self.reconnected.set()

    async def stop(self):
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.ws is not None:
            await self.ws.close()


def received(rider: Rider, action: str, **payload) -> bool:
    return any(a == action and p.items() >= payload.items() for a, p in rider.cp.received)


async def sigterm_while_busy(server, riders: list[Rider]) -> tuple[float, StationCall]:
    """The first station slow to answer a Reset the server has sent it; then SIGTERM.
    Returns when the signal went, and that call."""
    riders[0].cp.delays["Reset"] = SLOW_ANSWER
    station = await in_thread_db(Station.objects.get)(identity=riders[0].identity)
    call = await in_thread_db(services.queue_call)(station, "Reset", {"type": "Soft"}, requested_by="test")
    await async_eventually(lambda: received(riders[0], "Reset"), timeout=15)  # outstanding now
    sent = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    return sent, call


async def while_draining(server) -> tuple[dict, dict, int | None]:
    """Readiness and liveness once the server drains, and what a new handshake gets."""
    deadline = time.monotonic() + 10
    while (ready := await asyncio.to_thread(get, server.http + "/healthz"))[0] != 503:
        assert time.monotonic() < deadline, f"readiness never said draining: {ready}"
        await asyncio.sleep(0.05)
    alive = await asyncio.to_thread(get, server.http + "/livez")
    try:
        late = await open_socket(server, "acme", "LATE", AL1000_KEY)
    except websockets.InvalidStatus as refused:
        refusal = refused.response.status_code
    else:
        await late.close()
        refusal = None
    return ready, alive, refusal


async def all_closed(riders: list[Rider]):
    deadline = time.monotonic() + WINDOW + 30
    while not all(r.closed_at for r in riders):
        assert time.monotonic() < deadline, "the drain never closed every station"
        await asyncio.sleep(0.05)


def assert_spread(riders: list[Rider], signalled: float):
    """Closed with 1012, over the window: not all at once, as uvicorn alone does."""
    assert [r.close_code for r in riders] == [1012] * len(riders)
    times = sorted(r.closed_at - signalled for r in riders)
    early = [t for t in times if t < 0.1 * WINDOW]
    assert len(early) < len(times) / 2, f"closed at {times} s after SIGTERM: most at once"
    assert times[-1] - times[0] >= 0.4 * WINDOW, f"closed at {times} s after SIGTERM: not spread"


def assert_clean_exit(server):
    code = server.proc.wait(timeout=WINDOW + 30)  # it leaves by itself once drained
    # uvicorn re-raises the signal it shut down for, so a clean exit is "terminated".
    assert code in (0, -signal.SIGTERM), f"exit {code}; see {server.log_path}"
    assert "Traceback" not in server.log(), f"see {server.log_path}"


def held_by() -> set[str]:
    """The server processes (node ids) the connected stations are held by."""
    return set(Station.objects.filter(connected=True).values_list("connection_node", flat=True))


def make_riders() -> list[Rider]:
    tenant = make_tenant("acme")
    make_station(tenant, "LATE", AL1000_KEY)
    return [Rider(make_station(tenant, f"CP{i}", AL1000_KEY).identity) for i in range(STATIONS)]


def test_sigterm_closes_the_stations_over_the_window_and_leaves_queued_work_queued(own_server, run):
    """One process (embedded or not): its readiness flips, handshakes are refused, an
    outstanding call is answered before its socket closes, a call queued during the
    drain is not started but stays queued for the station's next connection, and every
    station is shown offline when the process is gone, without the reaper."""
    riders = make_riders()
    a = own_server("drain-a", CSMS_DRAIN_SECONDS=str(WINDOW))

    async def scenario():
        try:
            for rider in riders:
                await rider.ride(a)
            await async_eventually(lambda: Station.objects.filter(connected=True).count() == STATIONS)
            signalled, busy_call = await sigterm_while_busy(a, riders)
            during = await while_draining(a)
            late = await in_thread_db(lambda: services.queue_call(
                Station.objects.get(identity=riders[-1].identity), "Reset", {"type": "Hard"},
                requested_by="during the drain"))()
            await all_closed(riders)
            return signalled, busy_call, late, during
        finally:
            for rider in riders:
                await rider.stop()

    signalled, busy_call, late, (ready, alive, refusal) = run(scenario())
    assert_clean_exit(a)
    assert ready == (503, {"database": "ok", "channel_layer": "ok", "server": "draining"})
    assert alive == (200, {"server": "draining"})
    assert refusal == 503
    assert_spread(riders, signalled)
    busy_call.refresh_from_db()
    assert busy_call.state == StationCall.State.ANSWERED, "the outstanding call was answered"
    late.refresh_from_db()
    assert late.state == StationCall.State.QUEUED and not received(riders[-1], "Reset", type="Hard")
    assert not Station.objects.filter(connected=True).exists()


def test_a_second_signal_stops_at_once(own_server, run):
    riders = make_riders()[:3]
    a = own_server("drain-long", CSMS_DRAIN_SECONDS="120")

    async def scenario():
        try:
            for rider in riders:
                await rider.ride(a)
            await async_eventually(lambda: Station.objects.filter(connected=True).count() == len(riders))
            a.proc.send_signal(signal.SIGTERM)
            await while_draining(a)
            first_closes = [r.closed_at for r in riders]
            signalled = time.monotonic()
            a.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(a.proc.wait, 60)
            return first_closes, time.monotonic() - signalled, code
        finally:
            for rider in riders:
                await rider.stop()

    first_closes, took, code = run(scenario())
    assert first_closes == [None] * 3, "a 120 s window spaces 3 closes 40 s apart"
    assert took < 30, f"the second signal took {took:.1f} s to stop the process"
    assert code in (0, -signal.SIGTERM)


@needs_redis
def test_a_station_on_one_process_gets_commands_issued_through_another(own_server, run):
    """Through the other process's REST API (a key rotation, which the holding process
    performs with a key it makes itself) and from the CLI (`station call`, a process of
    its own)."""
    tenant = make_tenant("acme")
    rotated = make_station(tenant, "CP1", AL1000_KEY)
    make_station(tenant, "CP2", AL1000_KEY)
    user = get_user_model().objects.create_user("op", password=PASSWORD)
    Membership.objects.create(user=user, tenant=tenant, role=Role.OPERATOR)
    a = own_server("node-a", **NO_POLLING)
    b = own_server("node-b", **NO_POLLING)
    keyed = ks.KeyedStation(a, "acme", "CP1", AL1000_KEY, behaviour=ks.APPLY)
    rider = Rider("CP2")

    async def scenario():
        try:
            await keyed.connect()
            await keyed.boot()
            await rider.ride(a)
            await async_eventually(lambda: Station.objects.filter(connected=True).count() == 2)
            status, change = await asyncio.to_thread(
                post, b.http + "/api/v1/tenants/acme/stations/CP1/rotations/", "op", PASSWORD)
            assert status == 202, change
            cli = await asyncio.create_subprocess_exec(
                sys.executable, "manage.py", "station", "call", "acme", "CP2", "Reset",
                '{"type": "Soft"}', "--wait", "20", "--json", cwd=REPO, env=a.env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
            out, _ = await asyncio.wait_for(cli.communicate(), 60)
            done = await async_eventually(
                lambda: CredentialChange.objects.filter(pk=change["id"], state="succeeded").first(),
                timeout=20)
            return done, json.loads(out)
        finally:
            await keyed.disconnect()
            await rider.stop()

    change, called = run(scenario())
    assert change.outcome == "Accepted" and keyed.password != AL1000_KEY
    assert Station.objects.get(pk=rotated.pk).credential.current_origin == "rotation"
    assert called["state"] == "answered" and called["response"] == {"status": "Accepted"}
    assert received(rider, "Reset")


@needs_redis
def test_sigterm_sends_the_stations_to_the_other_process_with_nothing_lost(own_server, run):
    """SIGTERM on A: its stations are closed over the window and reconnect to B; the call
    outstanding at the signal is answered on A; a command queued during the drain, for a
    station A still holds, reaches it on B."""
    riders = make_riders()
    a = own_server("node-a", CSMS_DRAIN_SECONDS=str(WINDOW), **NO_POLLING)
    b = own_server("node-b", **NO_POLLING)

    async def scenario():
        try:
            for rider in riders:
                await rider.ride(a, then=b)
            await async_eventually(lambda: Station.objects.filter(connected=True).count() == STATIONS)
            (node_a,) = await in_thread_db(held_by)()
            signalled, busy_call = await sigterm_while_busy(a, riders)
            during = await while_draining(a)
            still_on_a = next(r for r in riders[1:] if r.closed_at is None)
            late = await in_thread_db(lambda: services.queue_call(
                Station.objects.get(identity=still_on_a.identity), "Reset", {"type": "Hard"},
                requested_by="during the drain"))()
            for rider in riders:
                await asyncio.wait_for(rider.reconnected.wait(), WINDOW + 30)
            await async_eventually(lambda: Station.objects.filter(connected=True).count() == STATIONS
                                   and len(held_by()) == 1 and node_a not in held_by(), timeout=15)
            await async_eventually(lambda: received(still_on_a, "Reset", type="Hard"), timeout=15)
            await async_eventually(lambda: StationCall.objects.get(pk=late.pk).done, timeout=15)
            return signalled, busy_call, late, during, still_on_a
        finally:
            for rider in riders:
                await rider.stop()

    signalled, busy_call, late, (ready, alive, refusal), still_on_a = run(scenario())
    assert_clean_exit(a)
    assert ready[0] == 503 and ready[1]["server"] == "draining" and alive[0] == 200
    assert refusal == 503
    assert_spread(riders, signalled)
    busy_call.refresh_from_db()
    assert busy_call.state == StationCall.State.ANSWERED
    late.refresh_from_db()
    assert late.state == StationCall.State.ANSWERED and late.response == {"status": "Accepted"}
    assert [a for a, p in still_on_a.cp.received].count("Reset") == 1  # sent once, on B


@needs_redis
def test_killing_a_process_sends_its_stations_to_the_other_with_their_queued_work(own_server, run):
    """kill -9, no drain: the sockets drop, the stations reconnect to B and a command queued
    while A was frozen (so A never saw it) reaches its station there."""
    riders = make_riders()[:3]
    a = own_server("node-a", **NO_POLLING)
    b = own_server("node-b", **NO_POLLING)

    async def scenario():
        try:
            for rider in riders:
                await rider.ride(a, then=b)
            await async_eventually(lambda: Station.objects.filter(connected=True).count() == len(riders))
            (node_a,) = await in_thread_db(held_by)()
            a.proc.send_signal(signal.SIGSTOP)  # a stalled host: it takes nothing in
            queued = await in_thread_db(lambda: services.queue_call(
                Station.objects.get(identity=riders[1].identity), "Reset", {"type": "Hard"},
                requested_by="while A was frozen"))()
            a.proc.kill()
            for rider in riders:
                await asyncio.wait_for(rider.reconnected.wait(), 30)
            await async_eventually(lambda: StationCall.objects.get(pk=queued.pk).done, timeout=15)
            # Shown connected, each by B's claim (A's were never released: it was killed).
            await async_eventually(lambda: Station.objects.filter(connected=True).count() == len(riders)
                                   and node_a not in held_by())
            return queued
        finally:
            for rider in riders:
                await rider.stop()

    queued = run(scenario())
    queued.refresh_from_db()
    assert queued.state == StationCall.State.ANSWERED and received(riders[1], "Reset", type="Hard")

"""A Redis outage, drilled: the channel layer goes away under a live server and comes back.

The server's Redis is a proxy (tests/tcp_proxy.py) that the test switches off and on.
What a user must see: station sockets stay open, a `station call` made during the outage
ends with the station's answer (not `timeout`), nudges work again once Redis is back
(even when Redis lost the group memberships), and the log says so in a line or two
instead of thousands of ERROR lines.
"""
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid

import pytest
import redis
from channels.layers import get_channel_layer
from django.db import connection

from csms import services
from csms.models import CredentialChange, Station, StationCall
from tests import keyed_station as ks
from tests.conftest import wait_for_other_sessions_to_end
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.live import REPO, LiveServer
from tests.stations import station
from tests.waiting import async_eventually, eventually, in_thread_db

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                       reason="needs REDIS_URL (runs in CI's Redis pass)"),
]

OUTAGE_WARNING = "channel layer: Redis unreachable"
RECOVERY_INFO = "channel layer: Redis reachable again"


@pytest.fixture
def namespace():
    """A channel-layer prefix and Celery queue of this test's own."""
    return f"chargegate-outage-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def start_server(redis_proxy, namespace, transactional_db, live_log_dir):
    """Starts a live server whose Redis is the proxy."""
    servers = []

    def start(reconcile_seconds=0.5):
        servers.append(LiveServer(connection.settings_dict["NAME"], live_log_dir, name="outage", extra_env={
            "REDIS_URL": redis_proxy.url(), "CHANNEL_LAYER_PREFIX": namespace, "CELERY_QUEUE": namespace,
            "CSMS_RECONCILE_SECONDS": str(reconcile_seconds)}).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
    wait_for_other_sessions_to_end()


async def manage(proxy, namespace, *args) -> dict:
    """`manage.py ... --json` as an operator runs it, with its Redis behind the proxy."""
    env = {**os.environ, "REDIS_URL": proxy.url(), "CHANNEL_LAYER_PREFIX": namespace,
           "CELERY_QUEUE": namespace, "CHARGEGATE_DB_NAME": str(connection.settings_dict["NAME"]),
           "DJANGO_SETTINGS_MODULE": "portal.settings"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "manage.py", *args, "--json", cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def station_call(proxy, namespace, identity, action, wait=20) -> dict:
    return await manage(proxy, namespace, "station", "call", "acme", identity, action, "{}",
                        "--wait", str(wait))


def error_lines(server) -> list[str]:
    # Ours ("... ERROR logger ...") and uvicorn's own ("ERROR:    Exception in ASGI application").
    return [line for line in server.log().splitlines() if " ERROR " in line or line.startswith("ERROR:")]


def finished(call_id) -> StationCall | None:
    call = StationCall.objects.get(pk=call_id)
    return call if call.done else None


def is_open(cp) -> bool:
    return cp._connection.close_code is None


def test_sockets_and_calls_survive_a_redis_outage(start_server, redis_proxy, namespace, run):
    outage_server = start_server()
    tenant = make_tenant("acme")
    rows = [make_station(tenant, f"CP{i}", AL1000_KEY) for i in range(3)]

    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            cps = [await stack.enter_async_context(station(outage_server, "acme", r.identity, AL1000_KEY))
                   for r in rows[:2]]
            await async_eventually(lambda: Station.objects.filter(connected=True).count() == 2)
            redis_proxy.down()
            await asyncio.sleep(1.5)  # every consumer's receive has met the outage by now
            # A station connecting during the outage is served too.
            cps.append(await stack.enter_async_context(
                station(outage_server, "acme", rows[2].identity, AL1000_KEY)))
            during = [asyncio.create_task(station_call(redis_proxy, namespace, r.identity, "GetConfiguration"))
                      for r in rows[::2]]
            await asyncio.sleep(3)
            still_open_during = [is_open(cp) for cp in cps]
            redis_proxy.up()
            answered_during = await asyncio.gather(*during)
            answered_after = await station_call(redis_proxy, namespace, rows[1].identity,
                                                "GetConfiguration", wait=10)
            connected = await async_eventually(
                lambda: list(Station.objects.order_by("identity").values_list("connected", flat=True)))
            return still_open_during, [is_open(cp) for cp in cps], answered_during, answered_after, \
                [cp.received for cp in cps], connected

    open_during, open_after, during, after, received, connected = run(scenario(), timeout=90)
    assert open_during == [True, True, True] and open_after == [True, True, True]
    for call in [*during, after]:
        assert call["state"] == "answered", call
        assert call["response"]["configurationKey"][0]["key"] == "HeartbeatInterval"
    assert received == [[("GetConfiguration", {"key": None})]] * 3  # each exactly once
    assert connected == [True, True, True]
    # The calls went through the database; the layer's prober notices Redis is back on
    # its own schedule (backoff up to 2 s), so wait for its line before counting.
    def recovered():
        text = outage_server.log()
        return text if RECOVERY_INFO in text else None

    log = eventually(recovered)
    assert "Exception in ASGI application" not in log
    assert error_lines(outage_server) == []
    assert log.count(OUTAGE_WARNING) == 1, log
    assert log.count(RECOVERY_INFO) == 1, log


def test_nudges_reach_the_socket_again_after_redis_lost_the_groups(start_server, redis_proxy,
                                                                   namespace, run):
    outage_server = start_server(reconcile_seconds=60)  # no reconcile pass: only a nudge delivers
    row = make_station(make_tenant("acme"), "CP1", AL1000_KEY)

    async def scenario():
        async with station(outage_server, "acme", "CP1", AL1000_KEY) as cp:
            await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)
            await asyncio.sleep(0.5)  # its first reconcile pass (on connect) is over
            redis_proxy.down()
            # A Redis that restarts empty: the group memberships are gone.
            direct = redis.Redis.from_url(os.environ["REDIS_URL"])
            direct.delete(f"{namespace}:group:{row.group_name}")
            direct.close()
            await asyncio.sleep(3)
            redis_proxy.up()
            with contextlib.suppress(AssertionError):  # the old code never said it
                await async_eventually(lambda: RECOVERY_INFO in outage_server.log(), timeout=15)
            started = time.monotonic()
            call = await station_call(redis_proxy, namespace, "CP1", "GetConfiguration", wait=15)
            return call, time.monotonic() - started, is_open(cp)

    call, took, still_open = run(scenario(), timeout=90)
    assert still_open
    assert call["state"] == "answered", call
    assert took < 15
    assert "Exception in ASGI application" not in outage_server.log()


def test_newest_connection_wins_across_nodes_during_an_outage(start_server, redis_proxy, namespace, run):
    first, second = start_server(), start_server()
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)

    async def scenario():
        async with station(first, "acme", "CP1", AL1000_KEY) as old:
            await async_eventually(lambda: Station.objects.get(identity="CP1").connected)
            redis_proxy.down()
            await asyncio.sleep(1)
            # Its old socket is half-open (say), so the takeover notice cannot travel either.
            async with station(second, "acme", "CP1", AL1000_KEY) as new:
                await async_eventually(lambda: old._connection.close_code is not None, timeout=5)
                call = await station_call(redis_proxy, namespace, "CP1", "GetConfiguration")
                redis_proxy.up()
                return old._connection.close_code, is_open(new), call, old.received, new.received

    old_code, new_open, call, old_received, new_received = run(scenario(), timeout=90)
    assert old_code == 4000 and new_open  # CLOSE_REPLACED
    assert call["state"] == "answered"
    assert old_received == [] and new_received == [("GetConfiguration", {"key": None})]


def test_a_rotation_during_an_outage_succeeds_without_a_reset(start_server, redis_proxy, namespace, run):
    server = start_server()
    row = make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(server, "acme", "CP1", AL1000_KEY, behaviour=ks.APPLY)

    async def scenario():
        await st.connect()
        await st.boot()
        redis_proxy.down()
        await asyncio.sleep(1)
        # The station applies the key and reconnects with it while Redis is still down.
        asked = await manage(redis_proxy, namespace, "station", "rotate", "acme", "CP1")
        change = await async_eventually(  # settled: not only answered, the new key shown too
            lambda: CredentialChange.objects.filter(pk=asked["change"]).exclude(
                state__in=["queued", "in_flight", "awaiting_proof"]).first(), timeout=30)
        redis_proxy.up()
        await asyncio.sleep(1)
        connected = await in_thread_db(lambda: Station.objects.get(pk=row.pk).connected)()
        await st.disconnect()
        return change, connected

    change, connected = run(scenario(), timeout=90)
    assert (change.state, change.outcome) == ("succeeded", "Accepted")
    assert st.password != AL1000_KEY and st.connections == 2 and connected
    assert st.resets == 0
    assert not StationCall.objects.filter(station=row, state__in=["failed", "timeout", "lost"]).exists()


def test_a_consumer_that_dies_takes_its_tasks_with_it(csms, run):
    """However a consumer ends, nothing of it lives on: no reconcile loop takes work for a
    socket that is gone, the station is not shown connected, the work waits for the next
    connection. (A malformed takeover event is only the way in: it ends the consumer with
    an exception, as a channel-layer failure did.)"""
    row = make_station(make_tenant("acme"), "CP1", AL1000_KEY)

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)
            await get_channel_layer().group_send(row.group_name, {"type": "station.takeover"})  # no connection_id
            await async_eventually(lambda: cp._connection.close_code is not None)
            await async_eventually(lambda: not Station.objects.get(pk=row.pk).connected)
            call = await in_thread_db(lambda: services.queue_call(
                Station.objects.get(pk=row.pk), "GetConfiguration", {}, requested_by="test"))()
            await asyncio.sleep(2)  # four reconcile periods of the server
            state_meanwhile = await in_thread_db(lambda: StationCall.objects.get(pk=call.pk).state)()
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            done = await async_eventually(lambda: finished(call.pk))
            return state_meanwhile, done, cp.received

    state_meanwhile, call, received = run(scenario())
    assert state_meanwhile == StationCall.State.QUEUED
    assert call.state == StationCall.State.ANSWERED
    assert received == [("GetConfiguration", {"key": None})]


def test_an_event_without_a_handler_is_ignored_and_the_connection_lives_on(csms, run):
    """A newer node may send events this one has no handler for (a rolling deploy):
    Channels would end the consumer; the station keeps its socket."""
    row = make_station(make_tenant("acme"), "CP1", AL1000_KEY)

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)
            await get_channel_layer().group_send(row.group_name, {"type": "station.from.the.future"})
            call = await in_thread_db(lambda: services.queue_call(
                Station.objects.get(pk=row.pk), "GetConfiguration", {}, requested_by="test"))()
            done = await async_eventually(lambda: finished(call.pk))
            return done, cp._connection.close_code

    call, close_code = run(scenario())
    assert call.state == StationCall.State.ANSWERED and close_code is None
    assert "ignored channel-layer event 'station.from.the.future'" in csms.log()

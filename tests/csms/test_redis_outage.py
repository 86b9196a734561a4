"""A Redis outage, drilled: the channel layer goes away under a live server and comes back.

The server's Redis is a proxy (tests/redis_proxy.py) that the test switches off and on.
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
from django.db import connection

from csms.models import Station
from tests.conftest import wait_for_other_sessions_to_end
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.live import REPO, LiveServer
from tests.redis_proxy import RedisProxy
from tests.stations import station
from tests.waiting import async_eventually

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                       reason="needs REDIS_URL (runs in CI's Redis pass)"),
]

OUTAGE_WARNING = "channel layer: Redis unreachable"
RECOVERY_INFO = "channel layer: Redis reachable again"


@pytest.fixture
def redis_proxy():
    proxy = RedisProxy().start()
    yield proxy
    proxy.stop()


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


async def station_call(proxy, namespace, identity, action, wait=20) -> dict:
    """`manage.py station call ... --wait`, as an operator runs it, through the proxy."""
    env = {**os.environ, "REDIS_URL": proxy.url(), "CHANNEL_LAYER_PREFIX": namespace,
           "CELERY_QUEUE": namespace, "CHARGEGATE_DB_NAME": str(connection.settings_dict["NAME"]),
           "DJANGO_SETTINGS_MODULE": "portal.settings"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "manage.py", "station", "call", "acme", identity, action, "{}",
        "--wait", str(wait), "--json", cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


def error_lines(server) -> list[str]:
    # Ours ("... ERROR logger ...") and uvicorn's own ("ERROR:    Exception in ASGI application").
    return [line for line in server.log().splitlines() if " ERROR " in line or line.startswith("ERROR:")]


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
    log = outage_server.log()
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

"""The channel layer across a Redis outage, in process: what consumers rely on."""
import asyncio
import logging
import os
import uuid

import pytest
import redis

from csms.channel_layer import ResilientRedisChannelLayer

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                                reason="needs REDIS_URL (runs in CI's Redis pass)")


@pytest.fixture
def layer(redis_proxy):
    return ResilientRedisChannelLayer(hosts=[redis_proxy.url()], prefix=f"layer-test-{uuid.uuid4().hex[:12]}",
                                      retry_max_seconds=0.5)


def outage_lines(caplog) -> list[str]:
    return [r.levelname for r in caplog.records if r.name == "csms.channel_layer" and r.levelno >= logging.INFO]


def test_receive_waits_out_an_outage_and_the_group_is_restored(layer, redis_proxy, caplog, run):
    caplog.set_level(logging.INFO, "csms.channel_layer")

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("station-1", channel)
        receiving = asyncio.create_task(layer.receive(channel))
        await asyncio.sleep(0.3)
        redis_proxy.down()
        # A Redis that comes back empty: nobody but this process knows the membership.
        with redis.Redis.from_url(os.environ["REDIS_URL"]) as direct:
            direct.delete(layer._group_key("station-1"))
        sent_during = await layer.group_send("station-1", {"type": "station.nudge"})
        await asyncio.sleep(1)
        waiting_during = not receiving.done()
        redis_proxy.up()
        while layer.down_since is not None:
            await asyncio.sleep(0.05)
        sent_after = await layer.group_send("station-1", {"type": "station.nudge", "n": 2})
        message = await asyncio.wait_for(receiving, 5)
        await layer.group_discard("station-1", channel)
        await layer.flush()
        return sent_during, waiting_during, sent_after, message

    sent_during, waiting_during, sent_after, message = run(scenario(), timeout=20)
    assert waiting_during and sent_during is False
    assert sent_after is True and message == {"type": "station.nudge", "n": 2}
    assert outage_lines(caplog) == ["WARNING", "INFO"]  # one line when it starts, one when it ends


def test_group_calls_degrade_while_send_still_raises(layer, redis_proxy, run):
    async def scenario():
        channel = await layer.new_channel()
        redis_proxy.down()
        await layer.group_add("station-2", channel)  # remembered, written once Redis is back
        await layer.group_discard("station-2", channel)
        await layer.group_add("station-2", channel)
        with pytest.raises(redis.exceptions.ConnectionError):  # /healthz must see the outage
            await layer.send(channel, {"type": "health.check"})
        redis_proxy.up()
        assert await layer._probe()
        with redis.Redis.from_url(os.environ["REDIS_URL"]) as direct:
            members = direct.zrange(layer._group_key("station-2"), 0, -1)
        await layer.flush()
        return channel, members

    channel, members = run(scenario(), timeout=20)
    assert members == [channel.encode()]


def test_memberships_outlive_the_group_expiry(redis_proxy, run):
    # channels_redis forgets a member older than group_expiry; a station stays connected
    # for weeks. (2 s stands for the default day.)
    layer = ResilientRedisChannelLayer(hosts=[redis_proxy.url()], group_expiry=2,
                                       prefix=f"layer-test-{uuid.uuid4().hex[:12]}")

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("station-3", channel)
        await asyncio.sleep(3)
        await layer.group_send("station-3", {"type": "station.nudge"})
        message = await asyncio.wait_for(layer.receive(channel), 5)
        await layer.group_discard("station-3", channel)
        await layer.flush()
        return message

    assert run(scenario(), timeout=20) == {"type": "station.nudge"}

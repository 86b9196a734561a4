"""The in-memory channel layer of embedded mode (csms/local_channel_layer.py)."""
import asyncio
import time

from csms import local_channel_layer
from csms.local_channel_layer import LocalChannelLayer


def test_a_membership_older_than_a_day_still_gets_the_group_s_messages(run):
    async def scenario():
        layer = LocalChannelLayer()
        channel = await layer.new_channel()
        await layer.group_add("station.1", channel)
        layer.groups["station.1"][channel] = time.time() - 2 * 86400  # connected two days ago
        layer.cleaned_at = -local_channel_layer.CLEAN_EVERY_SECONDS  # a scan is due
        await layer.group_send("station.1", {"type": "station.nudge"})
        return await asyncio.wait_for(layer.receive(channel), 2)

    assert run(scenario()) == {"type": "station.nudge"}


def test_expired_messages_are_still_dropped_within_a_second(run):
    async def scenario():
        layer = LocalChannelLayer(expiry=0.05)
        await layer.send("never.read", {"type": "x"})  # nobody will ever receive it
        await asyncio.sleep(0.1)
        layer.cleaned_at = -local_channel_layer.CLEAN_EVERY_SECONDS
        await layer.group_send("anything", {"type": "y"})
        return "never.read" in layer.channels

    assert run(scenario()) is False


def test_a_burst_of_handshakes_scans_the_layer_once_not_each_time(run):
    async def scenario():
        layer = LocalChannelLayer()
        scans = set()
        for i in range(500):  # what 500 handshakes ask of it: join, announce the takeover
            channel = await layer.new_channel()
            await layer.group_add(f"station.{i}", channel)
            await layer.group_send(f"station.{i}", {"type": "station.takeover"})
            scans.add(layer.cleaned_at)  # a new value: a scan ran
        return scans

    assert len(run(scenario())) <= 2


def test_the_scan_looks_only_at_channels_that_were_sent_a_message(run):
    """Thousands of consumers wait on empty queues: a scan keeps track of the few
    channels that may hold a message, and forgets each once it is empty."""
    async def scenario():
        layer = LocalChannelLayer(expiry=0.05)
        waiting = [await layer.new_channel() for _ in range(300)]
        receivers = [asyncio.create_task(layer.receive(c)) for c in waiting]
        await asyncio.sleep(0)  # each now waits on its own (empty) queue
        await layer.send(waiting[0], {"type": "read"})
        await layer.send("never.read", {"type": "unread"})
        got = await asyncio.wait_for(receivers[0], 2)
        await asyncio.sleep(0.1)  # "never.read"'s message has expired
        await layer.send("fresh", {"type": "not yet expired"})
        layer.cleaned_at = -local_channel_layer.CLEAN_EVERY_SECONDS
        layer._clean_expired()
        for task in receivers[1:]:
            task.cancel()
        return got, layer.sent_to, "never.read" in layer.channels, sum(c in layer.channels for c in waiting)

    got, sent_to, unread_kept, still_waiting = run(scenario())
    assert got == {"type": "read"}
    assert sent_to == {"fresh"}  # the read channel and the expired one are forgotten
    assert not unread_kept
    assert still_waiting == 299  # the waiting consumers' queues are left as they were


def test_an_expired_message_still_ends_its_channels_memberships(run):
    """As Channels does: a channel whose message expired unread is out of its groups."""
    async def scenario():
        layer = LocalChannelLayer(expiry=0.05)
        await layer.group_add("station.1", "gone.consumer")
        await layer.send("gone.consumer", {"type": "x"})
        await asyncio.sleep(0.1)
        layer.cleaned_at = -local_channel_layer.CLEAN_EVERY_SECONDS
        await layer.group_send("anything", {"type": "y"})
        return "gone.consumer" in layer.channels, "gone.consumer" in layer.groups.get("station.1", {})

    assert run(scenario()) == (False, False)

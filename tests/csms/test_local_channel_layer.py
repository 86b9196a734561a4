"""The in-memory channel layer of embedded mode (csms/local_channel_layer.py)."""
import asyncio
import time

from channels.layers import InMemoryChannelLayer

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


def test_a_burst_of_handshakes_scans_the_layer_once_not_each_time(run, monkeypatch):
    scans = []
    original = InMemoryChannelLayer._clean_expired
    monkeypatch.setattr(InMemoryChannelLayer, "_clean_expired", lambda self: scans.append(1) or original(self))

    async def scenario():
        layer = LocalChannelLayer()
        for i in range(500):  # what 500 handshakes ask of it: join, announce the takeover
            channel = await layer.new_channel()
            await layer.group_add(f"station.{i}", channel)
            await layer.group_send(f"station.{i}", {"type": "station.takeover"})

    run(scenario())
    assert len(scans) <= 2


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

"""One station flooding frames is slowed to its budget, not the process (csms/flood.py).

Driven over real WebSockets against a live server with a small budget: the flooder's
frames are all answered, at the budget's rate, while another station on the same
process is answered as usual.
"""
import asyncio
import time

import pytest

from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import raw_station
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)

RATE, BURST, FLOOD = 40, 10, 100


def test_a_flooding_station_is_slowed_to_its_budget_and_the_others_are_not(own_server, run):
    tenant = make_tenant("acme")
    for identity in ("FLOOD", "QUIET"):
        make_station(tenant, identity, AL1000_KEY)
    server = own_server("flood", CSMS_FRAMES_PER_SECOND=str(RATE), CSMS_FRAME_BURST=str(BURST))

    async def scenario():
        async with raw_station(server, "acme", "FLOOD", AL1000_KEY) as flood, \
                raw_station(server, "acme", "QUIET", AL1000_KEY) as quiet:
            answered = []

            async def read_answers():
                while len(answered) < FLOOD:
                    answered.append((await flood.recv(timeout=15))[1])

            reader = asyncio.create_task(read_answers())
            started = time.monotonic()
            for i in range(FLOOD):  # as fast as the socket takes them, no waiting for answers
                await flood.send([2, f"f{i}", "Heartbeat", {}])
            quiet_answers = []
            for i in range(5):  # meanwhile, another station of the same process
                await asyncio.sleep(0.2)
                quiet_answers.append(await quiet.exchange([2, f"q{i}", "Heartbeat", {}], timeout=2))
            after_a_second = sum(1 for _ in answered)
            elapsed = time.monotonic() - started
            await asyncio.wait_for(reader, 15)
            return answered, after_a_second, elapsed, quiet_answers

    answered, early, elapsed, quiet_answers = run(scenario())
    # Everything the flooder sent was answered, in order: slowed, never refused.
    assert answered == [f"f{i}" for i in range(FLOOD)]
    # ... but no faster than its budget: the burst, then RATE a second (generous margin).
    assert early <= BURST + RATE * elapsed * 1.5 + 5 < FLOOD, (early, elapsed)
    # The other station was answered at once each time.
    assert [a[:2] for a in quiet_answers] == [[3, f"q{i}"] for i in range(5)]
    # Said once in the log, without anything more of the station than its name.
    eventually(lambda: "slowing its connection down" in server.log())
    assert server.log().count("slowing its connection down") == 1

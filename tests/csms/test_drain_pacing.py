"""The drain's pacing (csms/drain.py), in process with stand-in connections: spread over
the window, a connection with a call outstanding last, a second signal cutting it short."""
import asyncio

import pytest

from csms import drain, held, leaving, services
from tests.factories import AL1000_KEY, make_station, make_tenant


class Connection:
    """What the drain needs of a StationConsumer: `busy` and `drain_close`."""

    def __init__(self, busy_for: float = 0.0):
        self.busy_until = busy_for
        self.closed_at: float | None = None

    @property
    def busy(self) -> bool:
        return asyncio.get_running_loop().time() - self.started < self.busy_until

    async def drain_close(self):
        self.closed_at = asyncio.get_running_loop().time() - self.started
        held.release(self)


@pytest.fixture
def connections():
    """`connections(*busy_for)` holds stand-ins; the process stops draining afterwards."""
    made = []

    def hold(*busy_for):
        made.extend(Connection(b) for b in busy_for)
        held._held.update(made)
        return made

    yield hold
    held._held.clear()
    leaving._leaving = False


def drained(window, connections, stop=lambda: False):
    async def go():
        start = asyncio.get_running_loop().time()
        for c in connections:
            c.started = start
        return await drain.drain(window, stop)

    return asyncio.run(go())


def test_closes_are_spread_over_the_window(connections):
    held_now = connections(*[0] * 10)
    assert drained(1.0, held_now) == 10
    times = sorted(c.closed_at for c in held_now)
    assert times[0] >= 0.05 and times[-1] - times[0] >= 0.5, times
    assert leaving.draining() and not held.connections()


def test_a_connection_with_a_call_outstanding_goes_when_answered_or_at_the_end(connections):
    quick, answered, silent = connections(0, 0.5, 99)
    drained(1.0, [quick, answered, silent])
    assert quick.closed_at < answered.closed_at
    assert answered.closed_at >= 0.5
    assert silent.closed_at >= 1.0  # the window is over: closed anyway, its call is lost


def test_a_second_signal_cuts_the_drain_short(connections):
    held_now = connections(*[0] * 3)
    told = []

    async def go():
        loop = asyncio.get_running_loop()
        for c in held_now:
            c.started = loop.time()
        loop.call_later(0.2, told.append, True)
        return await drain.drain(60, stop=lambda: bool(told))

    closed = asyncio.run(asyncio.wait_for(go(), 10))
    assert closed == 0 and all(c.closed_at is None for c in held_now)  # uvicorn closes them


@pytest.mark.django_db
def test_a_draining_process_claims_no_call(connections):
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    call = services.queue_call(station, "Reset", {"type": "Soft"})
    leaving.begin()
    assert services.claim_next_call(station.pk) is None
    leaving._leaving = False
    assert services.claim_next_call(station.pk).pk == call.pk

"""The server's garbage-collection policy: no full collection but the timer's, and the
timer's frees the old cycles that the young collections leave."""
import asyncio
import gc
import weakref

import pytest

from lib import gc_policy


class Node:
    pass


@pytest.fixture
def restored_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def old_garbage_cycle() -> weakref.ref:
    """A cycle that lived long enough to reach the old generation, then was dropped."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.collect(1)  # survivors of a middle collection move to the old generation
    return weakref.ref(a)


def test_only_the_timer_collects_the_old_generation_and_it_frees_old_cycles(restored_gc):
    async def scenario():
        timer = gc_policy.apply(asyncio.get_running_loop(), 0.5)
        try:
            assert gc.get_freeze_count() > 0  # what existed at startup is out of every pass
            assert gc.get_threshold()[2] == gc_policy.NO_AUTOMATIC_FULL
            cycle = old_garbage_cycle()
            churn = [[i] for i in range(300_000)]  # many young collections run meanwhile
            del churn
            alive_before_the_timer = cycle() is not None
            await asyncio.sleep(1.0)
            return alive_before_the_timer, cycle() is None
        finally:
            timer.cancel()

    alive_before, freed_after = asyncio.run(scenario())
    assert alive_before  # young collections leave it: no full pass started on its own
    assert freed_after  # the timer's full pass freed it


def test_zero_keeps_cpythons_own_schedule(restored_gc):
    threshold = gc.get_threshold()
    assert gc_policy.apply(None, 0) is None
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == 0

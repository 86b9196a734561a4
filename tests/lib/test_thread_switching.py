"""The server's thread switch interval (lib/thread_switching.py)."""
import sys

import pytest

from lib import thread_switching


@pytest.fixture
def restored_interval():
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_a_database_thread_gets_the_interpreter_back_within_half_a_millisecond(restored_interval):
    assert thread_switching.apply(thread_switching.DEFAULT_MS) == pytest.approx(0.0005)


def test_zero_keeps_cpythons_interval(restored_interval):
    sys.setswitchinterval(0.005)
    assert thread_switching.apply(0) == pytest.approx(0.005)

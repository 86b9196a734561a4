"""Which core a server process is pinned to (lib/cpu_affinity.py); the live server's
pinning is tests/portal/test_cpu_pin_live.py."""
from lib import cpu_affinity


def test_a_single_process_takes_the_first_allowed_core():
    assert cpu_affinity.core_for(0, {3, 1, 2}) == 1


def test_workers_are_spread_round_robin_over_the_allowed_cores():
    assert [cpu_affinity.core_for(w, {0, 2, 5}) for w in range(5)] == [0, 2, 5, 0, 2]

"""The pure rule of the credential throttle and the hashing gate's bounds."""
import threading
import time

import pytest

from lib.hashing import HashingBusy, _Gate
from lib.throttle import Counts, Limits, decide

LIMITS = Limits(window_seconds=300, pair=5, source=50, subject=20, lane_seconds=30, known_good_seconds=1)


def verdict(pair=0, source=0, subject=0, known_good=False, lane_free=True):
    lanes = []
    result = decide(Counts(pair, source, subject), known_good=lambda: known_good, limits=LIMITS, window_left=42,
                    take_lane=lambda: lanes.append(1) or lane_free)
    return result, len(lanes)


def test_under_every_limit_is_allowed_and_spends_no_lane():
    assert verdict(4, 49, 19) == (verdict()[0], 0) and verdict()[0].allowed


def test_a_pair_over_its_limit_is_refused_until_its_window_ends_known_or_not():
    for known in (False, True):
        result, _ = verdict(pair=5, known_good=known)
        assert not result.allowed and result.retry_after == 42


def test_a_busy_source_is_refused_except_for_pairs_that_succeeded_before():
    assert not verdict(source=50)[0].allowed
    assert verdict(source=50, known_good=True)[0].allowed


def test_a_guarded_subject_lets_known_sources_in_and_others_through_one_lane():
    assert verdict(subject=20, known_good=True) == (verdict()[0], 0)
    assert verdict(subject=20, lane_free=True)[0].allowed
    refused, lanes = verdict(subject=20, lane_free=False)
    assert not refused.allowed and refused.retry_after == 30 and lanes == 1


def counted(seconds):
    """A job that takes `seconds` and squares its argument, and the peak of how many
    ran at once."""
    running, peak, lock = [0], [0], threading.Lock()

    def work(n=0):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(seconds)
        with lock:
            running[0] -= 1
        return n * n

    return work, peak


def test_the_gate_runs_at_most_its_concurrency_at_once():
    gate = _Gate(2, 5, 10)
    work, peak = counted(0.05)
    threads = [threading.Thread(target=gate.run, args=(work,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_the_gate_refuses_when_its_queue_is_full_or_the_wait_too_long():
    gate, release = _Gate(1, 0.2, 1), threading.Event()
    # The holder's caller gives up after 0.2 s too; its work runs on and keeps the slot.
    holder = threading.Thread(target=lambda: pytest.raises(HashingBusy, gate.run, release.wait))
    holder.start()
    time.sleep(0.05)
    waiter = threading.Thread(target=lambda: pytest.raises(HashingBusy, gate.run, lambda: None))
    waiter.start()
    time.sleep(0.05)
    with pytest.raises(HashingBusy):  # one running, one queued: the queue is full
        gate.run(lambda: None)
    waiter.join()  # the queued one gave up after 0.2 s
    release.set()
    holder.join()
    assert gate.run(lambda: 7) == 7


@pytest.mark.django_db(transaction=True)
def test_a_thread_waiting_for_a_hash_holds_no_database_connection():
    """A hundred sign-ins waiting for the gate held a hundred PostgreSQL connections."""
    from django.contrib.auth.hashers import check_password, make_password
    from django.db import connection

    from tenants.models import Tenant

    encoded = make_password("secret")
    Tenant.objects.exists()  # the request has used the database
    assert connection.connection is not None
    assert check_password("secret", encoded)
    assert connection.connection is None  # given back while hashing
    assert Tenant.objects.count() >= 0  # and the next query simply reconnects


@pytest.mark.django_db
def test_a_transaction_keeps_its_connection_while_hashing():
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    from tenants.models import Tenant

    with transaction.atomic():
        Tenant.objects.exists()
        make_password("secret")
        assert connection.connection is not None and connection.in_atomic_block


def test_the_gates_map_keeps_every_thread_busy_within_its_bounds_and_keeps_order():
    gate, done = _Gate(2, 0.01, 1), []
    work, peak = counted(0.02)
    # No HashingBusy although there are more items than room and the wait is short: a
    # batch waits its turn.
    assert gate.map(work, range(12), on_done=done.append) == [n * n for n in range(12)]
    assert peak[0] == 2 and done == list(range(1, 13))
    assert gate.run(lambda: 7) == 7  # every admission was given back


def test_the_gates_map_stops_at_the_first_error():
    gate, ran = _Gate(1, 5, 10), []

    def work(n):
        ran.append(n)
        if n == 1:
            raise ValueError("boom")
        time.sleep(0.01)

    with pytest.raises(ValueError):
        gate.map(work, range(50))
    time.sleep(0.1)
    assert len(ran) < 50  # the rest were never started
    assert gate.run(lambda: 7) == 7

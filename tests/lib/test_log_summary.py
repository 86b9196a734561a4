"""A warning repeated by a flood is logged once per interval, then with its count."""
import logging

from lib.log_summary import Summarised


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_flood_is_one_line_per_interval_and_the_next_line_counts_what_was_left_out(caplog):
    clock = Clock()
    summary = Summarised(logging.getLogger("test.summary"), interval=10, clock=clock)
    with caplog.at_level(logging.WARNING, "test.summary"):
        logged = [summary.log("busy: %s", "/token") for _ in range(50)]
        clock.now += 10
        logged.append(summary.log("busy: %s", "/par"))
        clock.now += 60  # a quiet spell: the next refusal has nothing to report
        logged.append(summary.log("busy: %s", "/token"))
    assert logged == [True] + [False] * 49 + [True, True]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "busy: /token"),
        (logging.WARNING, "busy: /par (49 more since the previous such line)"),
        (logging.WARNING, "busy: /token"),
    ]


def test_a_burst_is_logged_as_it_comes_and_only_the_rest_of_the_interval_is_counted(caplog):
    clock = Clock()
    summary = Summarised(logging.getLogger("test.summary"), interval=10, level=logging.INFO, clock=clock,
                         burst=3)
    with caplog.at_level(logging.INFO, "test.summary"):
        logged = [summary.log("station %s connected", f"CP{i}") for i in range(10)]
        clock.now += 9.9
        logged.append(summary.log("station %s connected", "CP10"))  # still the same interval
        clock.now += 0.1
        logged += [summary.log("station %s connected", f"CP{i}") for i in (11, 12, 13, 14)]
    assert logged == [True] * 3 + [False] * 8 + [True] * 3 + [False]
    assert [r.getMessage() for r in caplog.records] == [
        "station CP0 connected", "station CP1 connected", "station CP2 connected",
        "station CP11 connected (8 more since the previous such line)",
        "station CP12 connected", "station CP13 connected",
    ]


def test_a_level_nobody_reads_is_neither_logged_nor_counted(caplog):
    summary = Summarised(logging.getLogger("test.summary.quiet"), level=logging.INFO, burst=2)
    with caplog.at_level(logging.WARNING, "test.summary.quiet"):
        assert [summary.log("x") for _ in range(5)] == [False] * 5
    assert caplog.records == []


def test_one_key_flooding_cannot_use_up_the_others_lines(caplog):
    """Per key (a peer address): a flood from one address is counted after its own few
    lines, and another address's line is still written in the same interval."""
    clock = Clock()
    summary = Summarised(logging.getLogger("test.summary"), interval=10, level=logging.INFO, clock=clock,
                         burst=50, per_key=5)
    with caplog.at_level(logging.INFO, "test.summary"):
        flood = [summary.log("station %s: authentication failed", "A", key="10.0.0.66") for _ in range(5000)]
        victim = summary.log("station %s: authentication failed", "B", key="10.0.0.7")
    assert flood.count(True) == 5 and victim
    assert caplog.records[-1].getMessage() == \
        "station B: authentication failed (4995 more since the previous such line)"


def test_many_keys_still_share_the_burst():
    clock = Clock()
    summary = Summarised(logging.getLogger("test.summary.many"), interval=10, level=logging.WARNING,
                         clock=clock, burst=50, per_key=5)
    logged = [summary.log("x", key=f"10.0.{i // 256}.{i % 256}") for i in range(1000)]
    assert logged.count(True) == 50
    assert len(summary._by_key) == 50  # only keys that were logged are remembered

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

"""When a rotation campaign starts more stations, pauses or completes: pure rules.

A campaign first rotates a canary group; only when every canary has finished, and
their failure rate is within bounds, does it go on, keeping at most `concurrency`
stations in progress. After each result the failure rate since the last (re)start is
checked against the limit: above it, the campaign pauses and waits for an operator.
Resuming starts with a canary again: whatever made it pause must prove itself fixed
on a few stations first.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Tally:
    waiting: int
    in_progress: int
    succeeded: int  # since the campaign was last started or resumed
    failed: int  # since the campaign was last started or resumed


@dataclass(frozen=True)
class Limits:
    concurrency: int
    canary_size: int
    max_failure_percent: int


@dataclass(frozen=True)
class Decision:
    start: int = 0
    pause_reason: str = ""
    complete: bool = False


def decide(t: Tally, limits: Limits) -> Decision:
    finished = t.succeeded + t.failed
    if t.waiting == 0 and t.in_progress == 0:
        return Decision(complete=True)
    canary = max(limits.canary_size, 1)
    # Judge the failure rate once a canary's worth of results is in (or all there is).
    sample = min(canary, finished + t.in_progress + t.waiting)
    if finished and finished >= sample and 100 * t.failed > limits.max_failure_percent * finished:
        stage = "canary" if finished <= canary else "rollout"
        return Decision(pause_reason=f"{stage}: {t.failed} of {finished} failed "
                                     f"(limit {limits.max_failure_percent}%)")
    if finished < canary:
        room = canary - finished - t.in_progress
    else:
        room = max(limits.concurrency, 1) - t.in_progress
    return Decision(start=max(0, min(room, t.waiting)))

"""The last frames of one connection, as an operator may see them: never their payloads.

A frame's payload can carry id tags, keys and certificates, so an entry keeps only what
the RPC framing says about it: when, which way, its message type, the action, its
message id, what became of it (a CallError code, "rejected by schema") and its size.
Everything is bounded: `SIZE` entries per connection (the oldest falls out), each
string cut to its own bound, so a stored ring is at most about `SIZE` × `ENTRY_BYTES`.

Recording is on every frame's path, so it does the least it can (a time, a slice, a
tuple appended). A `snapshot`, taken on the event loop when the ring is written
(csms/recent_frames.py, a few seconds apart at most), only copies the list; making the
strings printable (`stored`) is left to the writer thread, so a process flushing
thousands of rings does not stall its loop for it.
Pure: no Django, no I/O.
"""
import re
import time
from collections import deque

from .errors import Problem, error_code
from .messages import Call, CallError, CallResult

SIZE = 50
MAX_ACTION = 40  # the longest OCPP action is 31 characters; a station may send anything
MAX_MESSAGE_ID = 36  # OCPP-J's own bound on a message id
MAX_OUTCOME = 60
# What one stored entry may take, its JSON punctuation included: the bounds above, the
# time and the numbers (tests/csms/test_recent.py holds `stored` to it).
ENTRY_BYTES = 256

IN, OUT = "in", "out"  # station → CSMS, CSMS → station
CALL, CALLRESULT, CALLERROR = "CALL", "CALLRESULT", "CALLERROR"
UNREADABLE = "unreadable"  # a frame that parsed as no RPC message

REJECTED_BY_SCHEMA = "rejected by schema"
KINDS = {Call: CALL, CallResult: CALLRESULT, CallError: CALLERROR}
# A CALL refused for what its payload holds (the action's JSON schema, or no object at all).
SCHEMA_PROBLEMS = frozenset({Problem.PAYLOAD_SYNTAX, Problem.INCOMPLETE, Problem.TYPE, Problem.PROPERTY,
                             Problem.OCCURRENCE})

# A stored entry is a JSON array of these, in this order (`named` reads one back): names
# repeated in each of 50 entries would be 40 % of the column, rewritten at every flush.
# `at` is in milliseconds since the epoch (formatting 50 times per flush cost more than
# the rest of it). A ring's tuples are in the same order, `at` in seconds.
STORED = ("at", "direction", "type", "action", "message_id", "outcome", "bytes")

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class Ring:
    """The last `SIZE` frames of a connection, each a tuple in `STORED` order (tuples of
    plain values: no object of ours per frame, and nothing the cyclic garbage collector
    keeps walking). `dirty`: changed since its last snapshot."""

    __slots__ = ("entries", "dirty", "recorded")

    def __init__(self, size: int = SIZE):
        self.entries: deque[tuple] = deque(maxlen=size)
        self.dirty = False
        self.recorded = 0  # entries ever recorded: what `record` returns, `settle` takes

    def record(self, direction: str, kind: str, action: str, message_id: str, size: int,
               outcome: str = "") -> int:
        """Keep one frame; its ticket for `settle`. The id keeps one character more than
        its bound, so that `stored` shows the cut."""
        self.entries.append((time.time(), direction, kind, action[:MAX_ACTION], message_id[:MAX_MESSAGE_ID + 1],
                             outcome, size))
        self.dirty = True
        self.recorded += 1
        return self.recorded

    def settle(self, ticket: int, outcome: str) -> None:
        """What became of the frame `ticket` (known after it was recorded: the answer to
        a CALL), unless it has fallen out of the ring meanwhile."""
        back = self.recorded - ticket  # 0: the newest
        if back < len(self.entries):
            at, direction, kind, action, message_id, _, size = self.entries[-1 - back]
            self.entries[-1 - back] = (at, direction, kind, action, message_id, outcome, size)
            self.dirty = True

    def snapshot(self) -> list[tuple]:
        """The entries, oldest first, for `stored`; the ring is clean afterwards."""
        self.dirty = False
        return list(self.entries)


def stored(snapshot: list[tuple]) -> list[list]:
    """A snapshot as it is stored: printable, bounded strings (`STORED`)."""
    return [[round(at * 1000), direction, kind, printable(action, MAX_ACTION),
             printable(message_id, MAX_MESSAGE_ID), printable(outcome, MAX_OUTCOME), size]
            for at, direction, kind, action, message_id, outcome, size in snapshot]


def named(entry: list) -> dict:
    """A stored entry by its field names (`STORED`)."""
    return dict(zip(STORED, entry, strict=True))


def printable(text: str, bound: int) -> str:
    """At most `bound` printable ASCII characters ("…" marks a cut): what a station wrote
    as an action, message id or error code reaches a page or a terminal harmless."""
    if not (text.isascii() and text.isprintable()):  # the usual case skips the expression
        text = _UNPRINTABLE.sub("?", text)
    return text if len(text) <= bound else text[:bound - 1] + "…"


def outcome_of(problem: Problem, version) -> str:
    """What a frame refused for `problem` shows: the CallError code it was answered with,
    said as a schema's refusal when its payload was at fault."""
    code = error_code(version, problem) or "ignored"
    return f"{REJECTED_BY_SCHEMA} ({code})" if problem in SCHEMA_PROBLEMS else code


def size_of(text: str) -> int:
    """A text frame's size in bytes (UTF-8), without encoding the usual ASCII frame."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))

"""The last frames of one connection, as an operator may see them: never their payloads.

A frame's payload can carry id tags, keys and certificates, so an entry keeps only what
the RPC framing says about it: when, which way, its message type, the action, its
message id, what became of it (a CallError code, "rejected by schema") and its size.
Everything is bounded: `SIZE` entries per connection (the oldest falls out), each
string cut to its own bound and made printable, so an entry is at most `ENTRY_BYTES`.

Each entry is kept as the JSON text it is stored as (an array in `STORED` order), made
when the frame passes: a microsecond on its path, and a ring's write is then one join
and one UPDATE (csms/recent_frames.py). Encoding all 50 entries at each write instead
was most of a write's cost, and a station that sends one frame per write period (a
Heartbeat every few minutes) pays for a write with each frame. The text is also
smaller in memory than the values it holds.
Pure: no Django, no I/O.
"""
import json
import re
import time
from collections import deque

from .errors import Problem, error_code
from .messages import Call, CallError, CallResult

SIZE = 50
MAX_ACTION = 40  # the longest OCPP action is 31 characters; a station may send anything
MAX_MESSAGE_ID = 36  # OCPP-J's own bound on a message id
MAX_OUTCOME = 60
# What one stored entry may take in UTF-8: the bounds above (a string escaped in full
# doubles), the time and the numbers (tests/csms/test_recent.py holds entries to it).
ENTRY_BYTES = 360

IN, OUT = "in", "out"  # station → CSMS, CSMS → station
CALL, CALLRESULT, CALLERROR = "CALL", "CALLRESULT", "CALLERROR"
UNREADABLE = "unreadable"  # a frame that parsed as no RPC message

REJECTED_BY_SCHEMA = "rejected by schema"
KINDS = {Call: CALL, CallResult: CALLRESULT, CallError: CALLERROR}
# A CALL refused for what its payload holds (the action's JSON schema, or no object at all).
SCHEMA_PROBLEMS = frozenset({Problem.PAYLOAD_SYNTAX, Problem.INCOMPLETE, Problem.TYPE, Problem.PROPERTY,
                             Problem.OCCURRENCE})

# A stored entry is a JSON array of these, in this order (`named` reads one back): names
# repeated in each of 50 entries would be 40 % of the column, rewritten at every write.
# `at` is in milliseconds since the epoch.
STORED = ("at", "direction", "type", "action", "message_id", "outcome", "bytes")
_OUTCOME = STORED.index("outcome")

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class Ring:
    """The last `SIZE` frames of a connection, each its stored JSON text. `dirty`:
    changed since its last snapshot."""

    __slots__ = ("entries", "dirty", "recorded")

    def __init__(self, size: int = SIZE):
        self.entries: deque[str] = deque(maxlen=size)
        self.dirty = False
        self.recorded = 0  # entries ever recorded: what `record` returns, `settle` takes

    def record(self, direction: str, kind: str, action: str, message_id: str, size: int,
               outcome: str = "") -> int:
        """Keep one frame; its ticket for `settle`."""
        self.entries.append(entry(int(time.time() * 1000), direction, kind, action, message_id, outcome, size))
        self.dirty = True
        self.recorded += 1
        return self.recorded

    def settle(self, ticket: int, outcome: str) -> None:
        """What became of the frame `ticket` (known after it was recorded: the answer to
        a CALL), unless it has fallen out of the ring meanwhile."""
        back = self.recorded - ticket  # 0: the newest
        if back < len(self.entries):
            fields = json.loads(self.entries[-1 - back])
            fields[_OUTCOME] = outcome
            self.entries[-1 - back] = entry(*fields)
            self.dirty = True

    def snapshot(self) -> str:
        """The entries as the JSON array that is stored, oldest first; the ring is clean
        afterwards."""
        self.dirty = False
        return "[" + ",".join(self.entries) + "]"


def entry(at: int, direction: str, kind: str, action: str, message_id: str, outcome: str, size: int) -> str:
    """One stored entry (`STORED`), as JSON text. `direction` and `kind` are this
    module's own constants; `at` and `size` integers."""
    return (f'[{at:d},"{direction}","{kind}",{_string(action, MAX_ACTION)},{_string(message_id, MAX_MESSAGE_ID)},'
            f'{_string(outcome, MAX_OUTCOME) if outcome else _EMPTY},{size:d}]')


def named(stored: list) -> dict:
    """A stored entry by its field names (`STORED`)."""
    return dict(zip(STORED, stored, strict=True))


def printable(text: str, bound: int) -> str:
    """At most `bound` printable ASCII characters ("…" marks a cut): what a station wrote
    as an action, message id or error code reaches a page or a terminal harmless."""
    if not (text.isascii() and text.isprintable()):  # the usual case skips the expression
        text = _UNPRINTABLE.sub("?", text)
    return text if len(text) <= bound else text[:bound - 1] + "…"


_EMPTY = '""'


def _string(text: str, bound: int) -> str:
    """`text` made printable and bounded, as a JSON string."""
    # Short printable ASCII (every action and id a station sends as it should) needs no
    # escaping but of these two; anything else goes the long way ("…" is valid JSON).
    if len(text) <= bound and text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(printable(text, bound), ensure_ascii=False)


def outcome_of(problem: Problem, version) -> str:
    """What a frame refused for `problem` shows: the CallError code it was answered with,
    said as a schema's refusal when its payload was at fault."""
    code = error_code(version, problem) or "ignored"
    return f"{REJECTED_BY_SCHEMA} ({code})" if problem in SCHEMA_PROBLEMS else code


def size_of(text: str) -> int:
    """A text frame's size in bytes (UTF-8), without encoding the usual ASCII frame."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))

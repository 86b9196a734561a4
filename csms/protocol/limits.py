"""How much work one inbound frame may ask of us: the bounds, and the check.

The OCPP schemas leave most arrays and some strings unbounded, so a frame under the
transport limit could still carry 28,000 sampled values, and validating them item by
item held the event loop for seconds. These bounds sit far above anything a real
station sends (docs/security.md, "Per-frame limits", gives the reasoning for each) and
are checked in one cheap pass before schema validation. Pure: no Django, no I/O.
"""
from dataclasses import dataclass

from .errors import Problem, RpcError

# The largest WebSocket message accepted at all. The server is started with it as
# `ws_max_size` (portal/serve.py), so a bigger one closes the socket with 1009 before
# any of it is parsed. 2.0.1 NotifyReport, the largest message stations send, is split
# by the station into parts (seqNo/tbc); real parts are a few KiB to ~100 KiB.
MAX_FRAME_BYTES = 1024 * 1024

# Items in any one array of a payload. Real maxima: tens of sampled values per
# reading, some hundreds of readings in a 1.6 StopTransaction `transactionData`,
# a few hundred entries per NotifyReport part.
MAX_ARRAY_ITEMS = 1000

# JSON values (objects, arrays, strings, numbers, ...) in one payload: what schema
# validation costs is proportional to this (~5-15 µs each). 25,000 is ~1,700 full
# NotifyReport entries or ~6,000 sampled values, about 0.3 s of validation.
MAX_VALUES = 25_000

# Nesting depth of a payload. The deepest schema path is 6 levels; only open-ended
# `customData` / DataTransfer `data` could go deeper, and every recursive step after
# parsing (validation, `to_plain`, storage) would pay for it.
MAX_DEPTH = 32

# Characters in one string. The longest `maxLength` in either version's schemas is
# 10,000 (a certificate chain); only strings the schemas leave open (DataTransfer
# `data`, `customData`) can exceed this, and they would be stored as sent.
MAX_STRING_CHARS = 16 * 1024

# Schema violations looked at per payload: the answer names one, and collecting every
# one of 28,000 invalid items cost seconds.
MAX_SCHEMA_ERRORS = 10

# Frames at least this long are parsed and validated on a worker thread rather than
# the event loop; below it the thread hop would cost more than the work.
OFFLOAD_BYTES = 16 * 1024


@dataclass(frozen=True)
class Excess:
    """Which bound a payload broke, where, and the CALLERROR that earns."""

    problem: Problem
    where: str
    constraint: str
    description: str


def excess(payload) -> Excess | None:
    """The first bound `payload` (a parsed JSON value) exceeds, or None.

    Iterative and stopping at the first excess, so its own cost is bounded by
    MAX_VALUES whatever the frame holds.
    """
    stack = [(payload, "", 0)]
    values = 0
    while stack:
        value, where, depth = stack.pop()
        values += 1
        if values > MAX_VALUES:
            return Excess(Problem.OCCURRENCE, "(payload)", "maxValues",
                          f"more than {MAX_VALUES} values in one message")
        if depth > MAX_DEPTH:
            return Excess(Problem.PAYLOAD_SYNTAX, where, "maxDepth",
                          f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            if len(value) > MAX_STRING_CHARS:
                return Excess(Problem.PROPERTY, where, "maxLength",
                              f"longer than {MAX_STRING_CHARS} characters")
        elif isinstance(value, list):
            if len(value) > MAX_ARRAY_ITEMS:
                return Excess(Problem.OCCURRENCE, where, "maxItems",
                              f"more than {MAX_ARRAY_ITEMS} items")
            stack.extend((item, f"{where}/{i}", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, dict):
            if any(len(key) > MAX_STRING_CHARS for key in value):
                return Excess(Problem.PROPERTY, where, "maxLength",
                              f"a member name longer than {MAX_STRING_CHARS} characters")
            stack.extend((item, f"{where}/{key}", depth + 1) for key, item in value.items())
    return None


def check(payload, message_id: str) -> None:
    """Raise the RpcError to answer if `payload` exceeds a bound."""
    found = excess(payload)
    if found is None:
        return
    where = found.where.lstrip("/") or "(payload)"
    raise RpcError(found.problem, f"{where}: {found.description}"[:250],
                   details={"field": where[:100], "constraint": found.constraint},
                   message_id=message_id)

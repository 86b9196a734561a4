"""Bookkeeping for the CALLs a CSMS sends on one connection (OCPP-J §4.1.1).

One CALL may be outstanding at a time; its answer is matched by message id. The
caller owns the clock: it passes `now` in, so the rules are testable without sleeping.
"""
from dataclasses import dataclass

from .messages import Call, CallError, CallResult, new_message_id


@dataclass
class Outstanding:
    call: Call
    ref: object  # what the caller wants back when this call ends (e.g. a database id)
    deadline: float


class CallBook:
    def __init__(self):
        self.outstanding: Outstanding | None = None

    @property
    def busy(self) -> bool:
        return self.outstanding is not None

    def start(self, action: str, payload: dict, ref, now: float, timeout: float) -> Call:
        if self.outstanding is not None:
            raise RuntimeError("a CALL is already outstanding on this connection")
        call = Call(new_message_id(), action, payload)
        self.outstanding = Outstanding(call, ref, now + timeout)
        return call

    def match(self, answer: CallResult | CallError) -> Outstanding | None:
        """The outstanding call `answer` belongs to (and clear it), or None if stray."""
        current = self.outstanding
        if current is None or current.call.message_id != answer.message_id:
            return None
        self.outstanding = None
        return current

    def expire(self, now: float) -> Outstanding | None:
        """The outstanding call if its deadline has passed (and clear it)."""
        current = self.outstanding
        if current is not None and now >= current.deadline:
            self.outstanding = None
            return current
        return None

    def abandon(self) -> Outstanding | None:
        """Forget the outstanding call (connection lost); return it for the caller."""
        current, self.outstanding = self.outstanding, None
        return current

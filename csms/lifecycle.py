"""What a CSMS-initiated call and a station connection mean beyond transport.

The consumer speaks the wire; what a call's purpose makes of its life (a plain command,
a key change, the Reset that settles one) lives with that purpose, registered here:

* `prepare`: build the frame at send time (a key change generates its key now, so the key
  lives only in the frame);
* `ended`: the call was answered, refused with a CALLERROR (or an answer we cannot read),
  timed out, or lost with its socket. The call's row and what its purpose makes of the
  ending commit in one transaction (`settle`): a crash between the two would leave a key
  change in flight that nothing reaps;
* `unsendable`: it could not be prepared or is not valid for the station's version.

And per connection, what the process's reconcile pass finds due (`housekeeping`).

Every hook runs on a database thread and returns an `After`: what the connection does
next, in transport terms (reload its station row, close with a code, watch its close).
"""
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from .models import StationCall
from .protocol.versions import OcppVersion

State = StationCall.State


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


# Told, on a database thread, how the connection that heard the answer ended:
# (station_id, closed_by_station). Closed by the station means neither the CSMS nor its
# server closed it: the station hung up itself.
CloseWatcher = Callable[[int, bool], None]


@dataclass(frozen=True)
class After:
    """What the connection does after a hook ran."""

    station_changed: bool = False  # reload the station row before its next message
    close: Close | None = None  # close the socket (the station is to reconnect)
    watch_close: tuple[CloseWatcher, ...] = field(default=())

    def __or__(self, other: "After") -> "After":
        return After(self.station_changed or other.station_changed, self.close or other.close,
                     self.watch_close + other.watch_close)


NOTHING = After()


class Unsendable(Exception):
    """The call cannot be sent (the reason is stored on it)."""


@dataclass(frozen=True)
class Ending:
    """How a sent call ended, as its row now says."""

    call_id: int
    station_id: int
    state: str  # answered, error (a CALLERROR or an answer we cannot read), timeout, lost
    version: OcppVersion | None  # the version it was sent in
    response: dict | None = None  # the answer's payload, when answered


class Purpose:
    """A plain command: sent as stored, its ending recorded and nothing more.

    Subclasses override what their purpose adds; each hook runs inside `settle`'s
    transaction with the call's row already updated.
    """

    prepares_at_send = False  # `prepare` needs the database (and a thread)
    requeue_when_not_sent = True  # a frame that never left goes back to the queue

    def prepare(self, call: StationCall, version: OcppVersion) -> tuple[str, dict]:
        return call.action, call.payload

    def ended(self, ending: Ending) -> After:
        return NOTHING

    def unsendable(self, call_id: int, reason: str) -> None:
        pass


_purposes: dict[str, Purpose] = {}
_housekeepers: list[Callable[[int], After]] = []
_COMMAND = Purpose()


def purpose(name: str):
    """Class decorator: the hooks of calls with `StationCall.purpose == name`."""
    def register(cls):
        _purposes[name] = cls()
        return cls

    return register


def housekeeper(func: Callable[[int], After]):
    """Register `func(station_id) -> After`, run when the reconcile pass finds a station's
    key change open (`held.Findings.change_open`)."""
    _housekeepers.append(func)
    return func


def of(name: str) -> Purpose:
    return _purposes.get(name, _COMMAND)


# --- the transactions the consumer and the reaper run -------------------------------------

def settle(call_id: int, station_id: int, purpose_name: str, state: str, version: str | None, *,
           response: dict | None = None, error_code: str = "", error_description: str = "",
           only_if_sent: bool = True) -> After | None:
    """End a sent call: its row and its purpose's consequences, in one transaction.

    Only a call still `sent` is ended (`only_if_sent`): a call the reaper already declared
    lost, or one ended twice by racing paths, is not ended again (None).
    """
    with transaction.atomic():
        rows = StationCall.objects.filter(pk=call_id)
        if only_if_sent:
            rows = rows.filter(state=State.SENT)
        if not rows.update(state=state, response=response, error_code=error_code,
                           error_description=error_description[:255], completed_at=timezone.now()):
            return None
        return of(purpose_name).ended(Ending(call_id, station_id, state,
                                             OcppVersion(version) if version else None, response))


LOST_ROW = ("pk", "station_id", "purpose", "ocpp_version")  # what `lose_sent` needs of a call


def lose_sent(calls, reason: str) -> tuple[int, After]:
    """End these sent calls as lost (`calls`: their `LOST_ROW` values), each with its
    purpose's consequences: how many this ended (a racing path may end one first, and a
    call no longer `sent` is left alone), and what their purposes ask of the station's
    connection, together."""
    ended, after = 0, NOTHING
    for call_id, station_id, purpose_name, version in calls:
        outcome = settle(call_id, station_id, purpose_name, State.LOST, version or None,
                         error_description=reason)
        if outcome is not None:
            ended, after = ended + 1, after | outcome
    return ended, after


def unsendable(call_id: int, purpose_name: str, reason: str) -> None:
    """A claimed call that will not be sent: failed, and its purpose told why."""
    with transaction.atomic():
        StationCall.objects.filter(pk=call_id).update(
            state=State.FAILED, error_description=reason[:255], completed_at=timezone.now())
        of(purpose_name).unsendable(call_id, reason)


def housekeeping(station_id: int) -> After:
    after = NOTHING
    for func in _housekeepers:
        after = after | func(station_id)
    return after

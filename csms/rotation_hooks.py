"""Credential rotation's part in the life of a call and a connection (csms/lifecycle.py).

The consumer knows nothing of keys: a key-change call is prepared, ended and abandoned
through these hooks, the Reset that settles a change watches its socket's close for
restart evidence, and the reconcile pass's housekeeping may ask the station to
reconnect with the key it really holds; a station booting on its series key is given its
unique key after the answer to its boot. The decisions are `csms.rotation`'s; the
records are `csms.credentials`'.
"""

from ocpp.v16.enums import Action, ResetStatus  # the same values in 2.0.1

from . import credentials
from .handlers import v16, v201
from .lifecycle import NOTHING, After, Close, Ending, Purpose, Unsendable, housekeeper, purpose
from .models import StationCall
from .protocol.versions import OcppVersion
from .rotation import Outcome

CLOSE_PROVE_KEY = 4001  # safe-mode grace over: reconnect so the key in use shows

State = StationCall.State
# What a call's end without a readable answer stands for in the rotation machine.
_UNANSWERED = {State.ERROR: Outcome.CALL_ERROR, State.TIMEOUT: Outcome.TIMEOUT, State.LOST: Outcome.DROPPED}


@purpose(StationCall.Purpose.CREDENTIAL)
class KeyChange(Purpose):
    prepares_at_send = True
    # A frame that never left is not queued again: its key is already acceptable, and
    # the socket's end settles the change as dropped (the rotation machine goes on).
    requeue_when_not_sent = False

    def prepare(self, call: StationCall, version: OcppVersion) -> tuple[str, dict]:
        # The key is generated now, by the process that sends it, and lives only in this
        # frame: never in the database, the broker or a log.
        prepared = credentials.prepare_call(call.pk, version.value)
        if isinstance(prepared, str):
            raise Unsendable(prepared)
        return prepared.action, prepared.payload

    def ended(self, ending: Ending) -> After:
        if ending.state == State.ANSWERED:
            version = ending.version.value
            credentials.record_outcome(ending.call_id, credentials.outcome_of(version, ending.response),
                                       credentials.answer_status(version, ending.response))
        else:
            credentials.record_outcome(ending.call_id, _UNANSWERED[ending.state])
        return After(station_changed=True)  # e.g. onboarding over: no longer Pending

    def unsendable(self, call_id: int, reason: str) -> None:
        credentials.abandon_unsent(call_id, reason)


@purpose(StationCall.Purpose.CREDENTIAL_RESET)
class SettlingReset(Purpose):
    def ended(self, ending: Ending) -> After:
        if ending.state != State.ANSWERED or ending.response.get("status") != ResetStatus.accepted:
            return NOTHING
        credentials.record_reset_accepted(ending.station_id)
        # If the station now closes this socket itself, it is restarting.
        return After(watch_close=(credentials.record_socket_closed,))


@housekeeper
def prove_or_settle(station_id: int) -> After:
    effects = credentials.housekeeping(station_id)
    return After(station_changed=effects.result is not None,  # a change settled
                 close=Close(CLOSE_PROVE_KEY, "reconnect with your current key")
                 if effects.reconnect_wanted else None)


def start_onboarding(station, payload: dict, response: dict) -> None:
    """A station still on its series (master) key gets its unique key once its boot is
    answered. One whose last attempt failed gets the next on the retry schedule, not at
    every Pending boot; none while onboarding is held."""
    cred = getattr(station, "credential", None)
    if (cred is None or not cred.needs_unique_key or cred.outstanding_change_id is not None
            or credentials.onboarding_held(station) or credentials.in_backoff(cred)):
        return
    try:
        credentials.request_change(station, "onboarding", "system")
    except credentials.ChangeRefused:
        pass  # already queued or unresolved: it will be delivered or settled


for _router in (v16.router, v201.router):
    _router.after(Action.boot_notification)(start_onboarding)

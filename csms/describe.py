"""Plain-words descriptions of where a station's work stands, for the CLI (and the
portal): a key change, onboarding, a queued call. Read-only; no rules of their own."""
from .models import CredentialChange, Station, StationCall

_CHANGE_STAGE = {
    CredentialChange.State.QUEUED: "waiting to be sent",
    CredentialChange.State.IN_FLIGHT: "sent, waiting for the station's answer",
    CredentialChange.State.AWAITING_PROOF: "accepted, waiting for the station to connect with the new key",
    CredentialChange.State.SUCCEEDED: "done: the station uses its new key",
    CredentialChange.State.FAILED: "failed",
    CredentialChange.State.CANCELLED: "cancelled",
}


def change_stage(change: CredentialChange, connected: bool) -> str:
    """`queued (-)` said nothing: this says what the change waits for."""
    text = _CHANGE_STAGE.get(change.state, change.state)
    if change.state == CredentialChange.State.QUEUED:
        text += " (now)" if connected else " (when the station connects)"
    if change.outcome and change.state in (CredentialChange.State.FAILED, CredentialChange.State.SUCCEEDED,
                                           CredentialChange.State.AWAITING_PROOF):
        text += f"; the station answered {change.outcome}"
    if change.detail:
        text += f"; {change.detail}"
    return text


def onboarding_stage(station: Station, with_change: bool = True) -> str | None:
    """None unless the station still holds its series (master) key; then what happens next
    (`with_change=False`: without looking its key change up, for long lists). Its boots
    are answered Pending meanwhile, whatever its registration setting says."""
    credential = getattr(station, "credential", None)
    if credential is None or not credential.needs_unique_key:
        return None
    if not with_change:
        return "holds its series key"
    change = CredentialChange.objects.filter(station=station).first()
    if change is None or not change.open:
        return ("holds its series key; it is given a unique key at its next BootNotification"
                if station.connected else
                "holds its series key; it is given a unique key when it connects and boots")
    return f"holds its series key; its unique key is {change_stage(change, station.connected)}"


def call_waiting(call: StationCall, connected: bool) -> str:
    """What an unfinished call is waiting for, and what the operator can do about it."""
    if call.state == StationCall.State.QUEUED:
        where = ("the station is connected: it is sent after the calls before it" if connected
                 else "the station is offline: it is sent when the station next connects")
        return f"still queued ({where})"
    return "sent, the station has not answered yet (it is recorded when it does, or times out)"

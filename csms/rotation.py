"""The station credential state machine: pure logic, no I/O.

A station's credential record has up to three slots (current, pending, previous); at
most two hold a key at any time. Every transition keeps one promise:

    the key the station really holds is always accepted.

The new key is retired only when the station definitely did not take it (Rejected,
NotSupported), or when the station kept using the old key after a restart we saw it
carry out and did not move to the new key within the restart patience. Everything
else a station shows is inference, and real firmware defeats each inference: MicroOcpp
answers Accepted, saves the key and keeps the old one in memory until it restarts, so
connections and BootNotifications on the old key after "Accepted" prove nothing;
stations reconnect before carrying out an accepted Reset; a CSMS process that dies
cannot tell whether the station closed its socket. When in doubt both keys stay valid.
That includes order: a restart recorded after the station's next connection was handled
(its old socket's close processed late) counts only for connections after it, so such a
change costs one more settling Reset, never a key the station may hold.

OCPP 1.6 security white paper A01.FR.03 wants the old key refused as soon as the
station answers Accepted; that is `Mode.STRICT`. The default `Mode.SAFE` keeps the old
key until the station proves the new one, because a station that says Accepted and
then loses the key (power cut before it persisted) would otherwise need a site visit.
"""
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum


class Mode(StrEnum):
    SAFE = "safe"
    STRICT = "strict"


class Phase(StrEnum):
    IDLE = "idle"  # one key: current
    IN_FLIGHT = "in_flight"  # new key sent, no answer yet: current (old) + pending (new)
    UNPROVEN = "unproven"  # answered Accepted (safe mode): current (new) + previous (old)
    REBOOT_PENDING = "reboot_pending"  # answered RebootRequired: current (old) + pending (new)
    UNKNOWN = "unknown"  # no usable answer: current (old) + pending (new)


class Outcome(StrEnum):
    """How a credential CALL ended, as the consumer saw it."""

    ACCEPTED = "Accepted"
    REBOOT_REQUIRED = "RebootRequired"
    REJECTED = "Rejected"
    NOT_SUPPORTED = "NotSupported"
    CALL_ERROR = "CallError"
    TIMEOUT = "Timeout"
    DROPPED = "Dropped"  # the socket (or the server) went away before an answer


class Slot(StrEnum):
    CURRENT = "current"
    PENDING = "pending"
    PREVIOUS = "previous"


class Result(StrEnum):
    SUCCEEDED = "succeeded"  # the station holds the new key; the old one is gone
    FAILED = "failed"  # the station keeps the old key; the new one is gone


@dataclass(frozen=True)
class Key:
    hash: str
    origin: str  # installed, generated, master, onboarding, rotation
    since: datetime
    # The key's Digest verifiers, sealed (csms/auth/digest.py): they travel with the key
    # through every transition, so Digest accepts exactly the keys Basic does.
    digest: str = field(default="", repr=False)
    # Its EAP passwords, sealed (csms/auth/eap.py), for a station allowed EAP when the
    # key was set; they travel with the key the same way.
    eap: str = field(default="", repr=False)


@dataclass(frozen=True)
class Credentials:
    current: Key | None
    pending: Key | None = None
    previous: Key | None = None
    phase: Phase = Phase.IDLE
    # A restart was observed after the new key was sent: the station accepted our Reset
    # and then closed that very socket itself. A key staged "for after reboot" should be
    # active by now, so the key of the next connection is strong evidence.
    reboot_seen: bool = False
    # The station connected with the old key after that restart. Still not proof (it may
    # have dropped the socket for a network blip and not restarted yet): the change
    # fails only if it is still so when the restart patience runs out.
    old_after_restart: bool = False
    # The old key may be in other hands (a leak is why we rotate): nothing shown with it
    # counts as evidence, and Accepted retires it at once.
    distrust_old: bool = False

    def keys(self) -> list[tuple[Slot, Key]]:
        return [(slot, key) for slot, key in ((Slot.CURRENT, self.current),
                                              (Slot.PENDING, self.pending),
                                              (Slot.PREVIOUS, self.previous)) if key]

    @property
    def valid_hashes(self) -> list[str]:
        return [key.hash for _, key in self.keys()]

    @property
    def change_outstanding(self) -> bool:
        return self.phase is not Phase.IDLE

    @property
    def new_key(self) -> Key | None:
        """The key being introduced by the outstanding change."""
        return self.current if self.phase is Phase.UNPROVEN else self.pending

    @property
    def old_key(self) -> Key | None:
        """The key the outstanding change would replace."""
        return self.previous if self.phase is Phase.UNPROVEN else self.current


@dataclass
class Effects:
    """What the caller must do after a transition (besides storing the new state)."""

    result: Result | None = None
    retired: list[Key] = field(default_factory=list)
    reset_wanted: bool = False  # a reboot would settle the change (RebootRequired, unknown)
    reconnect_wanted: bool = False  # closing the socket makes the station prove its key
    alert: str = ""  # something an operator should look at (no key material)


class ChangeOutstanding(Exception):
    """A new key may not be pushed while another change is unresolved."""


def install(key: Key) -> Credentials:
    """A station's first key (operator-supplied, generated, or a series master key)."""
    return Credentials(current=key)


def begin(state: Credentials, new_key: Key, *, distrust_old: bool = False) -> Credentials:
    """The new key is about to be sent: from now on it is accepted too."""
    if state.change_outstanding:
        raise ChangeOutstanding(state.phase)
    return Credentials(current=state.current, pending=new_key, phase=Phase.IN_FLIGHT,
                       distrust_old=distrust_old)


def _succeeded(state: Credentials) -> tuple[Credentials, Effects]:
    new, old = state.new_key, state.old_key
    return Credentials(current=new), Effects(Result.SUCCEEDED, retired=[old] if old else [])


def _failed(state: Credentials) -> tuple[Credentials, Effects]:
    new, old = state.new_key, state.old_key
    return Credentials(current=old), Effects(Result.FAILED, retired=[new] if new else [])


def answered(state: Credentials, outcome: Outcome, mode: Mode = Mode.SAFE) -> tuple[Credentials, Effects]:
    """The station answered the credential CALL (or it ended without an answer)."""
    if state.phase is not Phase.IN_FLIGHT:
        return state, Effects()  # a stale answer: the change was settled otherwise
    if outcome is Outcome.ACCEPTED:
        if mode is Mode.STRICT or state.distrust_old:
            return _succeeded(state)
        return (Credentials(current=state.pending, previous=state.current, phase=Phase.UNPROVEN),
                Effects(reconnect_wanted=False))
    if outcome is Outcome.REBOOT_REQUIRED:
        return replace(state, phase=Phase.REBOOT_PENDING), Effects(reset_wanted=True)
    if outcome in (Outcome.REJECTED, Outcome.NOT_SUPPORTED):
        return _failed(state)  # A01.FR.04: keep accepting the old credentials
    return replace(state, phase=Phase.UNKNOWN), Effects()


def authenticated(state: Credentials, slot: Slot) -> tuple[Credentials, Effects]:
    """The station opened a connection with the key in `slot`: it holds that key now."""
    phase = state.phase
    if phase is Phase.IDLE:
        return state, Effects()
    if phase is Phase.UNPROVEN:
        if slot is Slot.CURRENT:
            return _succeeded(state)
        # Back with the old key after "Accepted": it may have lost the new key, or (as
        # MicroOcpp does) saved it for its next restart while the old one stays in
        # memory. Only a restart can tell: keep both and ask for one.
        return (Credentials(current=state.previous, pending=state.current,
                            phase=Phase.REBOOT_PENDING),
                Effects(reset_wanted=True, alert="old key used after the station accepted a new one"))
    if slot is Slot.PENDING:
        return _succeeded(state)
    # The station connected with the old key while the new one is pending.
    if state.distrust_old:
        # Perhaps not the station at all: keep both, and have the real one restart onto
        # the new key. Only the new key, or an operator, settles this change.
        phase = Phase.UNKNOWN if phase is Phase.IN_FLIGHT else phase
        return replace(state, phase=phase), Effects(reset_wanted=True)
    if phase is Phase.IN_FLIGHT:
        # A new connection while the CALL is unanswered: the answer is lost with the old
        # socket. The station may still have staged the new key for its next reboot.
        return replace(state, phase=Phase.UNKNOWN), Effects(reset_wanted=True)
    if state.reboot_seen:
        # Restarted and still on the old key: the new one probably never took. Wait out
        # the restart patience before retiring it (`restart_patience_over`).
        return replace(state, old_after_restart=True), Effects()
    return state, Effects(reset_wanted=True)


def rebooted(state: Credentials) -> Credentials:
    """The station carried out a restart we asked for since the new key was sent."""
    if state.phase in (Phase.REBOOT_PENDING, Phase.UNKNOWN, Phase.IN_FLIGHT):
        return replace(state, reboot_seen=True, old_after_restart=False)
    return state


def socket_closed(state: Credentials, *, reset_accepted_on_it: bool, by_station: bool) -> Credentials:
    """The socket the station was connected by has closed.

    The one close that is restart evidence: the station itself hung up the very socket
    on which it accepted our Reset. A socket the CSMS closed (or its server, shutting
    down), one lost with its process, or a close without an accepted Reset proves
    nothing: stations drop sockets for network blips, and reconnect before restarting.
    """
    if reset_accepted_on_it and by_station:
        return rebooted(state)
    return state


def restart_patience_over(state: Credentials) -> tuple[Credentials, Effects]:
    """The patience after an observed restart ran out: if the station is still on the
    old key, the new one never took and is retired."""
    if state.change_outstanding and state.old_after_restart and not state.distrust_old:
        return _failed(state)
    return state, Effects()


@dataclass(frozen=True)
class Waited:
    """How long the open change has been waiting, as the credential record's times say."""

    since_new_key: timedelta | None = None  # unproven: since the new key was sent
    since_old_after_restart: timedelta | None = None  # since it came back on the old key


def housekeeping(state: Credentials, waited: Waited, *, grace: timedelta,
                 patience: timedelta) -> tuple[Credentials, Effects]:
    """What the periodic look at an open change decides.

    * Safe mode's grace is over without proof of the new key: ask the station to
      reconnect, so the key it really holds shows (closing the socket is no restart).
    * It came back on the old key after a restart, and the restart patience is over:
      the new key never took (`restart_patience_over`).
    * A reboot would settle it (RebootRequired, no usable answer): a settling Reset is
      wanted; whether one is sent now is the tenant's reset policy.
    """
    if state.phase is Phase.UNPROVEN:
        if waited.since_new_key is not None and waited.since_new_key >= grace:
            return state, Effects(reconnect_wanted=True)
        return state, Effects()
    if state.old_after_restart:
        if waited.since_old_after_restart is not None and waited.since_old_after_restart >= patience:
            return restart_patience_over(state)
        return state, Effects()  # it restarted and came back on the old key: patience decides
    if state.phase in (Phase.REBOOT_PENDING, Phase.UNKNOWN):
        return state, Effects(reset_wanted=True)
    return state, Effects()


def match(state: Credentials, verify) -> Slot | None:
    """The slot whose key `verify(hash) -> bool` accepts (current first)."""
    for slot, key in state.keys():
        if verify(key.hash):
            return slot
    return None

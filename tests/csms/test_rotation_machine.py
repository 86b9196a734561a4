"""The credential state machine against a simulated station that misbehaves.

Hypothesis drives a station that may apply a key, stage it for its next reboot,
reject it, answer Accepted and then lose it, answer with a CALLERROR, or — like
MicroOcpp — answer Accepted, save the key and keep using the old one until it restarts;
whose answers may be lost to a dropped socket or a timeout; that may reconnect, crash or
reboot at any step, and drop its socket between accepting a Reset and carrying it out;
and a CSMS that may restart (or be killed) at any step, losing its in-flight call and
what it saw on its sockets.

What the CSMS observes is modelled as production observes it: the only restart it
notices is a Reset the station accepted followed by the station closing that very
socket (`rotation.rebooted`). Boot reasons and repeated BootNotifications are not
evidence (MicroOcpp repeats its Pending boot on the same socket with reason PowerUp).
One timing assumption is explicit: a station that accepted a Reset carries it out
before the restart patience (10 minutes) runs out.

After every step:

* the key the station really holds (and any key staged for its next reboot) is accepted;
* no more than two keys are ever valid;
* with no change outstanding exactly one key is valid: none is kept longer than needed.
"""
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from csms import rotation
from csms.rotation import Key, Mode, Outcome, Phase

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GRACE, PATIENCE = timedelta(minutes=5), timedelta(minutes=10)

APPLY, STAGE, REJECT, NOT_SUPPORTED, LOSE, CALL_ERROR, APPLY_ON_RESTART = (
    "apply", "stage", "reject", "not_supported", "lose", "call_error", "apply_on_restart")
HONEST = [APPLY, STAGE, REJECT, NOT_SUPPORTED, CALL_ERROR]
ANSWER = {APPLY: Outcome.ACCEPTED, STAGE: Outcome.REBOOT_REQUIRED, REJECT: Outcome.REJECTED,
          NOT_SUPPORTED: Outcome.NOT_SUPPORTED, LOSE: Outcome.ACCEPTED, CALL_ERROR: Outcome.CALL_ERROR,
          APPLY_ON_RESTART: Outcome.ACCEPTED}


class RotationMachine(RuleBasedStateMachine):
    mode = Mode.SAFE
    behaviours = HONEST + [LOSE, APPLY_ON_RESTART]
    distrust = False

    def __init__(self):
        super().__init__()
        self.names = (f"k{i}" for i in itertools.count(1))
        self.state = rotation.install(Key("k0", "installed", T0))
        # The station: the key it connects with, and one staged for its next reboot.
        self.active = "k0"
        self.staged = None
        self.reset_due = False  # it accepted a Reset and has not carried it out yet
        # The CSMS: an unanswered credential CALL on the socket, and whether the station
        # accepted a Reset on the socket it is connected by (known to the live process only).
        self.in_flight = False
        self.reset_accepted_here = False

    # --- helpers ---------------------------------------------------------------------

    def connect(self):
        """The station opens a connection: it can only authenticate with a valid key."""
        slot = rotation.match(self.state, lambda h: h == self.active)
        assert slot is not None, f"station locked out: holds {self.active}, valid {self.state.valid_hashes}"
        if self.in_flight:  # the old socket is gone, and its answer with it
            self.state, _ = rotation.answered(self.state, Outcome.DROPPED, self.mode)
            self.in_flight = False
        self.reset_accepted_here = False  # a new socket
        self.state, _ = rotation.authenticated(self.state, slot)
        return slot

    def station_closes_its_socket(self):
        """The CSMS sees the station close the socket; after an accepted Reset on it,
        that is the restart evidence production records."""
        self.state = rotation.socket_closed(self.state, reset_accepted_on_it=self.reset_accepted_here,
                                            by_station=True)

    def reboot(self):
        self.station_closes_its_socket()
        if self.staged is not None:
            self.active, self.staged = self.staged, None
        self.reset_due = False
        self.connect()

    # --- what can happen ---------------------------------------------------------------

    @precondition(lambda self: not self.state.change_outstanding and not self.in_flight)
    @rule()
    def csms_sends_a_new_key(self):
        self.state = rotation.begin(self.state, Key(next(self.names), "rotation", T0),
                                    distrust_old=self.distrust)
        self.in_flight = True

    @precondition(lambda self: self.in_flight)
    @rule(behaviour=st.data(), answer_arrives=st.booleans(),
          instead=st.sampled_from([Outcome.TIMEOUT, Outcome.DROPPED]))
    def station_handles_the_key(self, behaviour, answer_arrives, instead):
        what = behaviour.draw(st.sampled_from(self.behaviours))
        new = self.state.pending.hash
        if what == APPLY:
            self.active = new
        elif what in (STAGE, APPLY_ON_RESTART):
            self.staged = new
        # REJECT / NOT_SUPPORTED / LOSE / CALL_ERROR: the station keeps what it had
        self.state, _ = rotation.answered(
            self.state, ANSWER[what] if answer_arrives else instead, self.mode)
        self.in_flight = False

    @rule()
    def station_reconnects(self):
        """A network blip: the station closes its socket and reconnects, no restart
        (even between accepting a Reset and carrying it out)."""
        self.station_closes_its_socket()
        self.connect()

    @rule()
    def station_reboots(self):
        """A crash or power cycle nobody asked for."""
        self.reboot()

    @precondition(lambda self: self.state.phase in (Phase.REBOOT_PENDING, Phase.UNKNOWN)
                  and not self.in_flight)
    @rule()
    def station_accepts_a_reset(self):
        self.reset_due = True
        self.reset_accepted_here = True

    @precondition(lambda self: self.reset_due)
    @rule()
    def station_carries_out_the_reset(self):
        self.reboot()

    @rule()
    def csms_restarts(self):
        """Killed or restarted: what its process saw is gone; the station reconnects."""
        self.reset_accepted_here = False
        self.connect()

    def housekeeping(self, waited: rotation.Waited):
        """The CSMS's periodic look at the open change, as production makes it."""
        self.state, effects = rotation.housekeeping(self.state, waited, grace=GRACE, patience=PATIENCE)
        if effects.reconnect_wanted:  # the CSMS closes the socket itself: no restart evidence
            self.state = rotation.socket_closed(self.state, reset_accepted_on_it=self.reset_accepted_here,
                                                by_station=False)
            self.connect()

    @rule(waited=st.sampled_from([GRACE / 2, GRACE]))
    def grace_period_passes(self, waited):
        self.housekeeping(rotation.Waited(since_new_key=waited))

    @precondition(lambda self: not self.reset_due)
    @rule(waited=st.sampled_from([PATIENCE / 2, PATIENCE]))
    def restart_patience_passes(self, waited):
        self.housekeeping(rotation.Waited(since_old_after_restart=waited))

    # --- what must always hold -------------------------------------------------------

    @invariant()
    def the_key_the_station_holds_is_accepted(self):
        assert self.active in self.state.valid_hashes
        if self.staged is not None:
            assert self.staged in self.state.valid_hashes

    @invariant()
    def at_most_two_keys(self):
        assert len(self.state.valid_hashes) <= 2

    @invariant()
    def one_key_when_settled(self):
        if not self.state.change_outstanding:
            assert self.state.valid_hashes == [self.state.current.hash]


class StrictRotationMachine(RotationMachine):
    """A01.FR.03: trusts "Accepted". Only honest stations keep the promise here."""

    mode = Mode.STRICT
    behaviours = HONEST


class CompromisedKeyMachine(RotationMachine):
    """Rotating because the old key may have leaked: it is never taken as evidence.

    Honest stations only (it retires the old key on Accepted, like strict mode); an
    impostor holding the old key can connect and claim reboots at will.
    """

    behaviours = HONEST
    distrust = True

    @rule()
    def impostor_connects_with_the_old_key_and_claims_a_reboot(self):
        old = self.state.old_key
        if old is None or not self.state.change_outstanding:
            return
        if self.in_flight:
            self.state, _ = rotation.answered(self.state, Outcome.DROPPED, self.mode)
            self.in_flight = False
        slot = rotation.match(self.state, lambda h: h == old.hash)
        if slot is not None:
            self.state, _ = rotation.authenticated(self.state, slot)
            self.state = rotation.socket_closed(self.state, reset_accepted_on_it=True, by_station=True)
            self.state, _ = rotation.authenticated(self.state, slot)
            self.state, _ = rotation.housekeeping(
                self.state, rotation.Waited(since_old_after_restart=PATIENCE), grace=GRACE, patience=PATIENCE)


TestCompromisedKey = CompromisedKeyMachine.TestCase
TestCompromisedKey.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestSafeMode = RotationMachine.TestCase
TestSafeMode.settings = settings(max_examples=400, stateful_step_count=40, deadline=None)
TestStrictMode = StrictRotationMachine.TestCase
TestStrictMode.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)


def test_strict_mode_really_does_lock_out_a_station_that_loses_an_accepted_key():
    # Why safe mode is the default: the same story that safe mode survives.
    state = rotation.install(Key("old", "installed", T0))
    state = rotation.begin(state, Key("new", "rotation", T0))
    state, effects = rotation.answered(state, Outcome.ACCEPTED, Mode.STRICT)
    assert state.valid_hashes == ["new"] and [k.hash for k in effects.retired] == ["old"]

    safe = rotation.begin(rotation.install(Key("old", "installed", T0)), Key("new", "rotation", T0))
    safe, _ = rotation.answered(safe, Outcome.ACCEPTED, Mode.SAFE)
    assert sorted(safe.valid_hashes) == ["new", "old"]
    safe, effects = rotation.authenticated(safe, rotation.Slot.PREVIOUS)  # came back with the old key
    # Lost, or saved for the next restart (MicroOcpp)? Keep both, alert, ask for a restart.
    assert sorted(safe.valid_hashes) == ["new", "old"] and effects.result is None
    assert effects.reset_wanted and effects.alert
    safe = rotation.rebooted(safe)  # the Reset was carried out
    safe, _ = rotation.authenticated(safe, rotation.match(safe, lambda h: h == "old"))
    assert sorted(safe.valid_hashes) == ["new", "old"]  # not yet: it may only have dropped its socket
    safe, effects = rotation.restart_patience_over(safe)
    assert safe.valid_hashes == ["old"] and effects.result is rotation.Result.FAILED


def _sent(phase_outcome=None):
    state = rotation.begin(rotation.install(Key("old", "installed", T0)), Key("new", "rotation", T0))
    return rotation.answered(state, phase_outcome, Mode.SAFE)[0] if phase_outcome else state


def _connect(state, key):
    return rotation.authenticated(state, rotation.match(state, lambda h: h == key))


def test_microocpp_accepts_saves_and_keeps_the_old_key_until_it_restarts():
    # Issue 8, first and second path: Accepted, then old-key connections (the grace-period
    # close, a repeated boot) settle nothing; the power cycle brings the saved key.
    state = _sent(Outcome.ACCEPTED)
    state, _ = _connect(state, "old")  # safe mode's grace close; the password is still in memory
    state, _ = _connect(state, "old")
    assert sorted(state.valid_hashes) == ["new", "old"]
    state, effects = _connect(state, "new")  # after its next power cycle
    assert effects.result is rotation.Result.SUCCEEDED and state.valid_hashes == ["new"]


def test_reconnecting_before_carrying_out_an_accepted_reset_retires_nothing():
    # Issue 8, third path: RebootRequired, Reset accepted, the CSMS process dies; the
    # station reconnects with the old key before rebooting onto the staged one.
    state = _sent(Outcome.REBOOT_REQUIRED)
    state, _ = _connect(state, "old")  # the dead process saw no restart: nothing rebooted()
    state, _ = rotation.restart_patience_over(state)
    assert sorted(state.valid_hashes) == ["new", "old"]
    state, effects = _connect(state, "new")
    assert effects.result is rotation.Result.SUCCEEDED


def test_restart_evidence_that_arrives_after_the_new_connection_costs_a_reset_not_a_key():
    # The station restarted onto its old key, and its new connection was handled before
    # the old socket's close: when the restart is recorded, no connection after it has
    # been seen. Both keys stay valid (the order cannot be told from a station that
    # reconnected for a network blip and restarts onto the staged key later); what it
    # costs is one more settling Reset, never the key the station may hold.
    state = _sent(Outcome.REBOOT_REQUIRED)
    state, effects = _connect(state, "old")
    assert effects.reset_wanted
    state = rotation.rebooted(state)
    state, effects = rotation.restart_patience_over(state)
    assert effects.result is None and sorted(state.valid_hashes) == ["new", "old"]
    state, effects = _connect(state, "old")  # after that further Reset: now it counts
    state, effects = rotation.restart_patience_over(state)
    assert effects.result is rotation.Result.FAILED and state.valid_hashes == ["old"]


def test_no_second_key_while_a_change_is_outstanding():
    state = rotation.begin(rotation.install(Key("a", "installed", T0)), Key("b", "rotation", T0))
    with pytest.raises(rotation.ChangeOutstanding):
        rotation.begin(state, Key("c", "rotation", T0))

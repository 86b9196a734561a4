"""The credential state machine against a simulated station that misbehaves.

Hypothesis drives a station that may apply a key, stage it for its next reboot,
reject it, answer Accepted and then lose it, answer with a CALLERROR; whose answers
may be lost to a dropped socket or a timeout; that may reconnect, crash or reboot (with
or without the CSMS noticing) at any step; and a CSMS that may restart at any step,
losing its in-flight call. After every step:

* the key the station really holds (and any key staged for its next reboot) is accepted;
* no more than two keys are ever valid;
* with no change outstanding exactly one key is valid: none is kept longer than needed.
"""
import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from csms import rotation
from csms.rotation import Key, Mode, Outcome, Phase

T0 = datetime(2026, 1, 1, tzinfo=UTC)

APPLY, STAGE, REJECT, NOT_SUPPORTED, LOSE, CALL_ERROR = (
    "apply", "stage", "reject", "not_supported", "lose", "call_error")
HONEST = [APPLY, STAGE, REJECT, NOT_SUPPORTED, CALL_ERROR]
ANSWER = {APPLY: Outcome.ACCEPTED, STAGE: Outcome.REBOOT_REQUIRED, REJECT: Outcome.REJECTED,
          NOT_SUPPORTED: Outcome.NOT_SUPPORTED, LOSE: Outcome.ACCEPTED, CALL_ERROR: Outcome.CALL_ERROR}


class RotationMachine(RuleBasedStateMachine):
    mode = Mode.SAFE
    behaviours = HONEST + [LOSE]
    distrust = False

    def __init__(self):
        super().__init__()
        self.names = (f"k{i}" for i in itertools.count(1))
        self.state = rotation.install(Key("k0", "installed", T0))
        # The station: the key it connects with, and one staged for its next reboot.
        self.active = "k0"
        self.staged = None
        self.in_flight = False  # the CSMS has an unanswered credential CALL on a socket

    # --- helpers ---------------------------------------------------------------------

    def connect(self):
        """The station opens a connection: it can only authenticate with a valid key."""
        slot = rotation.match(self.state, lambda h: h == self.active)
        assert slot is not None, f"station locked out: holds {self.active}, valid {self.state.valid_hashes}"
        if self.in_flight:  # the old socket is gone, and its answer with it
            self.state, _ = rotation.answered(self.state, Outcome.DROPPED, self.mode)
            self.in_flight = False
        self.state, _ = rotation.authenticated(self.state, slot)
        return slot

    def reboot(self):
        if self.staged is not None:
            self.active, self.staged = self.staged, None

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
        elif what == STAGE:
            self.staged = new
        # REJECT / NOT_SUPPORTED / LOSE / CALL_ERROR: the station keeps what it had
        self.state, _ = rotation.answered(
            self.state, ANSWER[what] if answer_arrives else instead, self.mode)
        self.in_flight = False

    @rule()
    def station_reconnects(self):
        self.connect()

    @rule(noticed=st.booleans())
    def station_reboots(self, noticed):
        """A crash or power cycle; a 2.0.1 boot reason may let the CSMS notice it."""
        self.reboot()
        slot = self.connect()
        if noticed:
            self.state = rotation.rebooted(self.state)
            self.state, _ = rotation.authenticated(self.state, rotation.match(
                self.state, lambda h: h == self.active) or slot)

    @precondition(lambda self: self.state.phase in (Phase.REBOOT_PENDING, Phase.UNKNOWN)
                  and not self.in_flight)
    @rule()
    def csms_resets_the_station(self):
        # Reset accepted; the station restarts, reconnects, and its boot (after the
        # accepted Reset) tells the CSMS a restart happened.
        self.reboot()
        slot = self.connect()
        self.state = rotation.rebooted(self.state)
        self.state, _ = rotation.authenticated(self.state, rotation.match(
            self.state, lambda h: h == self.active) or slot)

    @precondition(lambda self: self.state.phase in (Phase.REBOOT_PENDING, Phase.UNKNOWN))
    @rule()
    def station_reconnects_before_a_scheduled_reset(self):
        # 2.0.1 "Scheduled" (or a network blip before the restart): not a reboot.
        self.connect()

    @rule()
    def csms_restarts(self):
        if self.in_flight:
            # The reaper settles the call the dead process left behind.
            self.state, _ = rotation.answered(self.state, Outcome.DROPPED, self.mode)
            self.in_flight = False

    @rule()
    def grace_period_ends(self):
        if rotation.grace_expired(self.state).reconnect_wanted:
            self.connect()

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
            self.state = rotation.rebooted(self.state)
            self.state, _ = rotation.authenticated(self.state, slot)


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
    assert safe.valid_hashes == ["old"] and effects.result is rotation.Result.FAILED


def test_no_second_key_while_a_change_is_outstanding():
    state = rotation.begin(rotation.install(Key("a", "installed", T0)), Key("b", "rotation", T0))
    with pytest.raises(rotation.ChangeOutstanding):
        rotation.begin(state, Key("c", "rotation", T0))

"""The kill drill (issue 9): the CSMS process holding a station is killed (-9) at each
step of a key change, and the station goes on with another process of the same CSMS.

At every step: the station gets in with whatever key it holds (never a 401), the change
settles (is not left open), it is the only change (nothing applied twice, one key sent),
and afterwards exactly the key the station holds is valid.
"""
import asyncio

import pytest
import websockets
from django.utils import timezone

from csms import credentials
from csms.auth.keys import verify_secret
from csms.models import CredentialChange, StationCall
from tests import keyed_station as ks
from tests.csms.test_rotation_e2e import connection_name, cred, rotate, settled
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.live import LiveServer
from tests.waiting import async_eventually, in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)


def key_sent():
    return cred().phase != "idle"


def answered():
    change = CredentialChange.objects.filter(station__identity="CP1").first()
    return change is not None and change.answered_at is not None


def reset_queued():
    return StationCall.objects.filter(purpose="credential_reset").exists()


def reset_accepted():
    return cred().reset_accepted_at is not None


STEPS = {"key sent": key_sent, "answered": answered, "reset queued": reset_queued,
         "reset accepted": reset_accepted}


async def connect_with_held_key(st, timeout=20):
    """Connect as the station would, retrying while no server answers; a 401 is a lockout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await st.connect()
            return
        except websockets.InvalidStatus as exc:
            assert exc.response.status_code != 401, f"locked out at {st.password.hex()}"
        except OSError:
            pass
        assert asyncio.get_running_loop().time() < deadline, "the station never got back in"
        await asyncio.sleep(0.2)


async def reach(st, step, timeout=20):
    """Wait for the step, reconnecting the station as firmware does when the CSMS closes
    its socket (safe mode's grace period over: 4001)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await in_thread_db(step)():
        assert asyncio.get_running_loop().time() < deadline, f"{step.__name__} never happened"
        if st.task is not None and st.task.done() and not st.reset_due:
            await connect_with_held_key(st)
            await st.boot()
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("behaviour, step", [
    (ks.APPLY, "key sent"), (ks.APPLY, "answered"),
    (ks.STAGE, "key sent"), (ks.STAGE, "answered"), (ks.STAGE, "reset queued"),
    (ks.STAGE, "reset accepted"),
    (ks.APPLY_ON_RESTART, "answered"), (ks.APPLY_ON_RESTART, "reset accepted"),
])
def test_a_process_killed_at_any_step_of_a_key_change_loses_nothing(
        csms_server, transactional_db, run, live_log_dir, behaviour, step):
    make_station(make_tenant("acme", rotation_grace_seconds=1), "CP1", AL1000_KEY)
    doomed = LiveServer(connection_name(), live_log_dir, name="doomed").start()
    st = ks.KeyedStation(doomed, "acme", "CP1", AL1000_KEY, behaviour=behaviour)
    if behaviour == ks.APPLY_ON_RESTART:
        st.microocpp()
    st.reset_delay = 1  # the reboot comes a moment after the Reset is accepted

    async def scenario():
        await st.connect()
        await st.boot()
        await rotate()
        await reach(st, STEPS[step])
        doomed.proc.kill()  # kill -9: no cleanup, no close frames, nothing recorded
        await st.disconnect()
        st.server = csms_server  # the station's next connection reaches another process
        await st.reconnect_settled()  # one the firmware began on its own goes there too
        if st.ws is None:
            await connect_with_held_key(st)
            await st.boot()
        change = await async_eventually(settled, timeout=30)
        if st.ws is None:  # a reboot under way when the change settled
            await connect_with_held_key(st)
        await st.disconnect()
        return change

    try:
        change = run(scenario())
    finally:
        doomed.stop()
    assert CredentialChange.objects.filter(station__identity="CP1").count() == 1
    assert len(st.keys_received) <= 1
    assert change.state in ("succeeded", "failed")
    if st.keys_received and behaviour != ks.APPLY_ON_RESTART:
        assert change.state == "succeeded", "the station took the key"
    held = cred()
    assert held.phase == "idle" and not held.pending_hash and not held.previous_hash
    assert verify_secret(st.password, held.current_hash), "the key the station holds is the valid one"


def test_calls_in_flight_on_a_dead_process_end_when_the_station_connects_again(csms, run):
    """What the drill races for, made certain: the process that sent a key change (and a
    command) died before the answer, so both rows stay `sent`, too recent for the orphan
    reaper. The station's next connection, to another process, ends them as lost at
    once, and the key change goes on from "the key may or may not have arrived"."""
    station = make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    credentials.request_change(station, "demand", "tester")
    change_call = StationCall.objects.get(purpose=StationCall.Purpose.CREDENTIAL)
    credentials.prepare_call(change_call.pk, "ocpp1.6")
    StationCall.objects.filter(pk=change_call.pk).update(state="sent", sent_at=timezone.now())
    command = StationCall.objects.create(tenant=station.tenant, station=station, action="Reset",
                                         payload={"type": "Soft"}, state="sent", sent_at=timezone.now())
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY)

    async def scenario():
        await st.connect()  # with the old key: the staged one never arrived
        await st.boot()
        ended = await async_eventually(lambda: StationCall.objects.filter(
            pk__in=[change_call.pk, command.pk], state="lost").count() == 2, timeout=5)
        await st.disconnect()
        return ended

    assert run(scenario())
    assert StationCall.objects.get(pk=command.pk).error_description == \
        "the station opened a new connection before answering"
    held = cred()
    assert held.phase in ("unknown", "idle"), "no longer waiting for an answer"
    assert verify_secret(AL1000_KEY, held.current_hash), "the key the station holds still works"

"""What real station firmware and crash drills did to credential changes (issue 8).

MicroOcppSimulator, the C++ MicroOcpp stack, was locked out or stuck Pending by the
rotation logic; a kill -9 and a graceful restart of the CSMS between an accepted Reset
and the station's reboot locked out 1.6 stations. Each story is replayed here against
live servers with a station that keeps the keys it is given (`tests/keyed_station.py`):
afterwards the key the station holds must get in.
"""
import io
import json

import pytest
from django.core.management import call_command

from csms.auth.keys import verify_secret
from csms.models import AuditEvent, KeyOrigin, StationCall
from tests import keyed_station as ks
from tests.csms.test_rotation_e2e import (
    MASTER,
    can_connect,
    connection_name,
    cred,
    last_change,
    rotate,
    settled,
)
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.live import LiveServer
from tests.waiting import async_eventually, in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)


def onboarding_station(**tenant_fields):
    tenant = make_tenant("acme", **tenant_fields)
    make_station(tenant, "CP1", MASTER, origin=KeyOrigin.MASTER, needs_unique_key=True)


def test_a_2_0_1_pending_boot_repeated_on_the_same_socket_proves_nothing(csms, run):
    # MicroOcpp accepts SetVariables BasicAuthPassword, saves the password and keeps the
    # old one on its open socket; 60 s later it repeats BootNotification(PowerUp) there.
    onboarding_station()
    st = ks.KeyedStation(csms, "acme", "CP1", MASTER, version="2.0.1").microocpp()

    async def scenario():
        await st.connect()
        first = await st.boot()
        await async_eventually(lambda: cred().phase == "unproven")
        again = await st.boot(reason="PowerUp")  # same socket, old password in memory
        c = await in_thread_db(cred)()
        both = (verify_secret(MASTER, c.previous_hash), verify_secret(st.staged, c.current_hash))
        await st.reboot(reason="PowerUp")  # the power cycle brings the saved password
        change = await async_eventually(settled)
        return first, again, both, change, st.boot_statuses[-1]

    first, again, both, change, last = run(scenario())
    assert (first, again) == ("Pending", "Pending")
    assert both == (True, True), "both keys stay valid until the station shows which it holds"
    assert change.state == "succeeded" and last == "Accepted"
    assert cred().current_origin == KeyOrigin.ONBOARDING and not cred().needs_unique_key


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_station_back_on_its_old_key_after_accepted_keeps_both_until_it_restarts(csms, run, version):
    # Safe mode's grace period closes the socket; MicroOcpp reconnects with the password
    # still in memory. Its Reset waits for an Accepted boot: it gets one, once.
    onboarding_station(rotation_grace_seconds=1)
    st = ks.KeyedStation(csms, "acme", "CP1", MASTER, version=version).microocpp()

    async def scenario():
        await st.connect()
        await st.boot()
        await async_eventually(lambda: cred().phase == "unproven")
        code = await st.watch_for_close(timeout=10)
        await st.connect()  # the old password, from memory
        await async_eventually(lambda: st.resets >= 1, timeout=10)  # accepted, not carried out
        c = await in_thread_db(cred)()
        both = (verify_secret(MASTER, c.current_hash), verify_secret(st.staged, c.pending_hash))
        boot = await st.boot()  # its next Pending boot is Accepted, so it can reset
        change = await async_eventually(settled, timeout=15)
        await async_eventually(lambda: st.boot_statuses[-1] == "Accepted" and st.staged is None)
        master_ok = await can_connect(csms, "CP1", MASTER, version)
        await st.disconnect()
        return code, both, boot, change, master_ok

    code, both, boot, change, master_ok = run(scenario())
    assert code == 4001 and both == (True, True)
    assert boot == "Accepted"
    assert (change.state, change.outcome) == ("succeeded", "Accepted")
    assert master_ok is False and not cred().needs_unique_key
    alerts = set(AuditEvent.objects.filter(action="credential.alert").values_list("outcome", flat=True))
    assert "old key used after the station accepted a new one" in alerts
    assert AuditEvent.objects.filter(action="credential.boot_accepted_for_reset").count() == 1


def test_1_6_onboarding_with_a_reset_that_waits_for_an_accepted_boot(csms, run):
    # Pending → AuthorizationKey → RebootRequired → Reset Accepted → nothing, forever:
    # MicroOcpp resets only once its boot is Accepted.
    onboarding_station()
    st = ks.KeyedStation(csms, "acme", "CP1", MASTER, behaviour=ks.STAGE)
    st.reset_only_when_accepted = True

    async def scenario():
        await st.connect()
        first = await st.boot()
        await async_eventually(lambda: st.resets >= 1, timeout=10)
        second = await st.boot()  # the repeated Pending boot
        change = await async_eventually(settled, timeout=15)
        await async_eventually(lambda: st.staged is None and st.boot_statuses[-1] == "Accepted")
        await st.disconnect()
        return first, second, change

    first, second, change = run(scenario())
    assert (first, second) == ("Pending", "Accepted")
    assert (change.state, change.outcome) == ("succeeded", "RebootRequired")
    assert st.resets == 1 and not cred().needs_unique_key


def test_a_pending_boot_after_the_accepted_once_is_pending_again_and_transactions_stay_refused(csms, run):
    # The one Accepted boot lets the station carry out its Reset; nothing else is let in.
    from ocpp.v16 import call as call16

    onboarding_station()
    st = ks.KeyedStation(csms, "acme", "CP1", MASTER, behaviour=ks.STAGE)
    st.reset_only_when_accepted = True
    st.reset_delay = 30  # it never gets round to it in this test

    async def scenario():
        await st.connect()
        await st.boot()
        await async_eventually(lambda: st.resets >= 1, timeout=10)
        boots = [await st.boot(), await st.boot()]
        st.reboot_task.cancel()
        try:
            await st.cp.call(call16.Authorize(id_tag="TAG"), suppress=False)
        except Exception as exc:  # ocpp raises the CALLERROR it got
            refused = type(exc).__name__
        else:
            refused = None
        await st.disconnect()
        return boots, refused

    boots, refused = run(scenario())
    assert boots == ["Accepted", "Pending"]
    assert refused == "SecurityError"


@pytest.mark.parametrize("stop", ["kill", "terminate"])
def test_csms_stopped_between_an_accepted_reset_and_the_reboot(csms_server, transactional_db, run,
                                                               live_log_dir, stop):
    # The drill: RebootRequired, Reset accepted with the reboot due seconds later; the
    # CSMS process is killed (or gracefully stopped, as a deploy does); the station
    # reconnects to another process with its old key, boots, then reboots onto the
    # staged key.
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    first = LiveServer(connection_name(), live_log_dir, name=f"doomed-{stop}").start()
    st = ks.KeyedStation(first, "acme", "CP1", AL1000_KEY, behaviour=ks.STAGE)
    st.reset_delay = 4

    async def scenario():
        await st.connect()
        await st.boot()
        await rotate()
        await async_eventually(lambda: st.resets >= 1, timeout=10)
        await async_eventually(lambda: cred().reset_accepted_at is not None)
        first.proc.kill() if stop == "kill" else first.stop()
        await st.disconnect()
        st.server = csms_server  # another process of the same CSMS
        await st.connect()  # old key: it has not rebooted yet
        await st.boot()
        connections = st.connections
        await async_eventually(lambda: st.connections > connections, timeout=15)  # the reboot
        change = await async_eventually(settled, timeout=15)
        new_ok = await can_connect(csms_server, "CP1", st.password)
        await st.disconnect()
        return change, new_ok

    try:
        change, new_ok = run(scenario())
    finally:
        first.stop()
    assert st.password != AL1000_KEY, "the station rebooted onto its staged key"
    assert new_ok and change.state == "succeeded"


def test_a_2_0_1_station_without_the_variable_is_retried_on_the_backoff_not_at_every_boot(csms, run):
    onboarding_station()
    st = ks.KeyedStation(csms, "acme", "CP1", MASTER, version="2.0.1", behaviour=ks.UNKNOWN_COMPONENT)

    async def scenario():
        await st.connect()
        await st.boot()
        await async_eventually(settled)
        boots = [await st.boot(reason="PowerUp") for _ in range(4)]
        await st.disconnect()
        return boots

    assert run(scenario()) == ["Pending"] * 4
    assert len(st.keys_received) == 1, "one key per backoff period, not one per Pending boot"
    assert last_change().outcome == "UnknownComponent"
    assert StationCall.objects.filter(purpose=StationCall.Purpose.CREDENTIAL).count() == 1
    out = io.StringIO()
    call_command("station", "show", "acme", "CP1", "--json", stdout=out)
    shown = json.loads(out.getvalue())
    assert shown["registration_status"] == "Pending" and shown["registration_setting"] == "Accepted"

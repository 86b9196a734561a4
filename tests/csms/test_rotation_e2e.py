"""Credential changes end to end: real stations that store and use the keys they get.

Each station connects with the password it holds; the CSMS rotates it over OCPP; the
station answers the way firmware does and reconnects (or reboots) with whatever it now
holds. Afterwards the test checks who can still get in.
"""
import io

import pytest
import websockets
from django.core.management import call_command

from csms import credentials
from csms.auth.keys import verify_secret
from csms.models import AuditEvent, CredentialChange, KeyOrigin, Station, StationCall
from tests import keyed_station as ks
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import open_socket
from tests.waiting import async_eventually, in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)

MASTER = bytes.fromhex("4d41535445524b45594d41535445524b45594d41")


def cred(identity="CP1"):
    return Station.objects.select_related("credential").get(identity=identity).credential


def last_change(identity="CP1"):
    return CredentialChange.objects.filter(station__identity=identity).first()


def settled(identity="CP1"):
    change = last_change(identity)
    return change if change and not change.open else None


async def can_connect(server, identity, password, version="1.6", tenant="acme") -> bool:
    protocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    try:
        ws = await open_socket(server, tenant, identity, None, protocols=(protocol,), password=password)
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 401
        return False
    await ws.close()
    return True


async def rotate(identity="CP1"):
    station = await in_thread_db(lambda: Station.objects.select_related("tenant", "credential")
                                 .get(identity=identity))()
    return await in_thread_db(credentials.request_change)(station, "demand", "tester")


def assert_no_secret_stored(secrets_hex, server):
    """The keys the station received appear nowhere the CSMS keeps things."""
    stored = [str(c.payload) + str(c.response) for c in StationCall.objects.all()]
    stored += [str(e.detail) + e.outcome for e in AuditEvent.objects.all()]
    log = server.log()
    for secret in secrets_hex:
        raw = bytes.fromhex(secret).decode("latin-1")
        forms = [secret, secret.upper()] + ([raw] if raw.isalnum() else [])
        for form in forms:
            # Any 8-character piece: logs may shorten what they write.
            for piece in {form[i:i + 8] for i in range(len(form) - 7)}:
                assert all(piece not in s for s in stored), piece
                assert piece not in log, piece


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_accepted_key_replaces_the_old_one(csms, run, version):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, version=version, behaviour=ks.APPLY)

    async def scenario():
        await st.connect()
        await st.boot()
        await rotate()
        change = await async_eventually(settled)
        new_ok = await can_connect(csms, "CP1", st.password, version)
        old_ok = await can_connect(csms, "CP1", AL1000_KEY, version)
        await st.disconnect()
        return change, new_ok, old_ok

    change, new_ok, old_ok = run(scenario())
    assert change.state == "succeeded" and change.outcome == "Accepted"
    assert (new_ok, old_ok) == (True, False)
    assert st.password != AL1000_KEY and st.connections >= 2
    if version == "1.6":
        assert len(st.password) == 20
    else:
        assert len(st.password) == 40 and st.password.decode().isalnum()
    c = cred()
    assert (c.phase, c.current_origin, c.pending_hash, c.previous_hash) == ("idle", KeyOrigin.ROTATION, "", "")
    actions = list(AuditEvent.objects.filter(station__identity="CP1").values_list("action", flat=True))
    for expected in ("credential.change_requested", "credential.key_sent", "credential.answered",
                     "credential.key_retired", "credential.change_succeeded"):
        assert expected in actions
    assert_no_secret_stored(st.keys_received, csms)


@pytest.mark.parametrize("behaviour, outcome", [(ks.REJECT, "Rejected"), (ks.NOT_SUPPORTED, "NotSupported")])
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_refused_key_leaves_the_old_one_working(csms, run, version, behaviour, outcome):
    if version == "2.0.1" and behaviour == ks.NOT_SUPPORTED:
        outcome = "NotSupportedAttributeType"  # recorded in the station's own words
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, version=version, behaviour=behaviour)

    async def scenario():
        await st.connect()
        await rotate()
        change = await async_eventually(settled)
        offered = bytes.fromhex(st.keys_received[0])
        result = (change, await can_connect(csms, "CP1", AL1000_KEY, version),
                  await can_connect(csms, "CP1", offered, version))
        await st.disconnect()
        return result

    change, old_ok, offered_ok = run(scenario())
    assert (change.state, change.outcome) == ("failed", outcome)
    assert old_ok and not offered_ok
    assert cred().phase == "idle" and cred().current_origin == KeyOrigin.INSTALLED


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_reboot_required_keeps_both_keys_until_the_station_reboots_with_the_new_one(csms, run, version):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, version=version, behaviour=ks.STAGE)

    async def scenario():
        await st.connect()
        await st.boot()
        await rotate()
        # The CSMS answers RebootRequired with a Reset; the station reboots onto the new key.
        change = await async_eventually(settled, timeout=15)
        return change, await can_connect(csms, "CP1", AL1000_KEY, version), \
            await can_connect(csms, "CP1", st.password, version)

    change, old_ok, new_ok = run(scenario())
    assert (change.state, change.outcome) == ("succeeded", "RebootRequired")
    assert st.resets == 1 and st.staged is None
    assert new_ok and not old_ok
    reset = StationCall.objects.get(purpose=StationCall.Purpose.CREDENTIAL_RESET)
    assert reset.payload == ({"type": "Soft"} if version == "1.6" else {"type": "OnIdle"})


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_no_answer_keeps_both_keys_then_a_reboot_tells_the_truth(csms, run, version):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, version=version, behaviour=ks.SILENT)

    async def scenario():
        await st.connect()
        await st.boot()
        await rotate()
        # The server's call timeout is 3 s in tests: the outcome becomes unknown.
        await async_eventually(lambda: cred().phase == "unknown", timeout=10)
        offered = bytes.fromhex(st.keys_received[0])
        # Both keys are valid now (checked on the record: connecting with the new one
        # would itself prove the station holds it).
        c = await in_thread_db(cred)()
        both = (verify_secret(AL1000_KEY, c.current_hash), verify_secret(offered, c.pending_hash))
        # The firmware reconnects with the key it has; that asks for a Reset, and the
        # station reboots onto its old key, which proves the new one never took.
        st.behaviour = ks.APPLY
        await st.reconnect()
        change = await async_eventually(settled, timeout=15)
        after = (await can_connect(csms, "CP1", AL1000_KEY, version),
                 await can_connect(csms, "CP1", offered, version))
        await st.disconnect()
        return both, change, after

    both, change, after = run(scenario())
    assert both == (True, True)
    assert (change.state, change.outcome) == ("failed", "Timeout")
    assert after == (True, False)
    assert st.resets >= 1


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_socket_lost_before_the_answer_but_station_applied_the_key(csms, run, version):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, version=version, behaviour=ks.DROP_AFTER_APPLY)

    async def scenario():
        await st.connect()
        await rotate()
        change = await async_eventually(settled, timeout=15)
        result = (change, await can_connect(csms, "CP1", AL1000_KEY, version),
                  await can_connect(csms, "CP1", st.password, version))
        await st.disconnect()
        return result

    change, old_ok, new_ok = run(scenario())
    assert change.state == "succeeded"
    assert new_ok and not old_ok


def test_strict_mode_drops_the_old_key_on_accepted(csms, run):
    tenant = make_tenant("acme", rotation_mode="strict")
    make_station(tenant, "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, behaviour=ks.LOSE)

    async def scenario():
        await st.connect()
        await rotate()
        change = await async_eventually(settled)
        await st.disconnect()
        return change, await can_connect(csms, "CP1", AL1000_KEY)

    change, old_ok = run(scenario())
    # A01.FR.03 trusts "Accepted": a station that lost the key is now locked out. This is
    # why safe mode is the default (next test).
    assert change.state == "succeeded" and old_ok is False


def test_safe_mode_grace_makes_a_station_that_lost_its_key_show_it(csms, run):
    tenant = make_tenant("acme", rotation_grace_seconds=1)
    make_station(tenant, "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, behaviour=ks.LOSE)

    async def scenario():
        await st.connect()
        await rotate()
        await async_eventually(lambda: cred().phase == "unproven")
        code = await st.watch_for_close(timeout=10)  # the CSMS asks for proof
        await st.connect()  # firmware reconnects with the key it really has: the old one
        change = await async_eventually(settled)
        ok = await can_connect(csms, "CP1", AL1000_KEY)
        await st.disconnect()
        return code, change, ok

    code, change, old_ok = run(scenario())
    assert code == 4001
    assert (change.state, change.outcome) == ("failed", "Accepted")
    assert old_ok and cred().phase == "idle"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_onboarding_from_master_key_to_unique_key(csms, run, version):
    make_station(make_tenant("acme"), "CP1", MASTER, origin=KeyOrigin.MASTER, needs_unique_key=True)
    st = ks.KeyedStation(csms, "acme", "CP1", MASTER, version=version, behaviour=ks.APPLY)

    async def scenario():
        await st.connect()
        first = await st.boot()  # Pending, and the unique key is on its way
        await async_eventually(settled)
        await async_eventually(lambda: st.connections >= 2, timeout=5)
        second = await st.boot()
        master_ok = await can_connect(csms, "CP1", MASTER, version)
        await st.disconnect()
        return first, second, master_ok

    first, second, master_ok = run(scenario())
    assert (first, second) == ("Pending", "Accepted")
    assert master_ok is False
    c = cred()
    assert c.needs_unique_key is False and c.current_origin == KeyOrigin.ONBOARDING
    assert last_change().trigger == "onboarding"


def test_rejected_onboarding_keeps_the_station_pending(csms, run):
    make_station(make_tenant("acme"), "CP1", MASTER, origin=KeyOrigin.MASTER, needs_unique_key=True)
    st = ks.KeyedStation(csms, "acme", "CP1", MASTER, behaviour=ks.REJECT)

    async def scenario():
        await st.connect()
        await st.boot()
        await async_eventually(settled)
        status = await st.boot()
        await st.disconnect()
        return status

    assert run(scenario()) == "Pending"  # A01.FR.05
    assert cred().needs_unique_key is True and cred().current_origin == KeyOrigin.MASTER


def test_no_second_change_while_one_is_outstanding(transactional_db):
    station = make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    credentials.request_change(station, "demand", "tester")
    with pytest.raises(credentials.ChangeRefused, match="already queued"):
        credentials.request_change(station, "demand", "tester")


def test_too_many_series_key_stations_hold_onboarding_until_released(csms, run):
    tenant = make_tenant("acme", onboarding_max_in_window=2, onboarding_window_minutes=60)
    for identity in ("CP1", "CP2", "CP3"):
        make_station(tenant, identity, MASTER, origin=KeyOrigin.MASTER, needs_unique_key=True)
    first = [ks.KeyedStation(csms, "acme", i, MASTER, behaviour=ks.APPLY) for i in ("CP1", "CP2")]
    third = ks.KeyedStation(csms, "acme", "CP3", MASTER, behaviour=ks.APPLY)

    async def scenario():
        for st in first:
            await st.connect()
            await st.boot()
            await async_eventually(lambda st=st: settled(st.identity))
        await third.connect()  # the third series-key connection in the window: hold
        held_status = await third.boot()
        await async_eventually(lambda: AuditEvent.objects.filter(action="onboarding.held").exists())
        still_pending = await third.boot()
        quiet = not third.keys_received
        await in_thread_db(lambda: call_command("onboarding", "release", "acme", stdout=io.StringIO()))()
        await third.boot()  # a Pending station boots again after its interval
        await async_eventually(lambda: settled("CP3"), timeout=10)
        await async_eventually(lambda: third.connections >= 2, timeout=5)
        final = await third.boot()
        for st in first + [third]:
            await st.disconnect()
        return held_status, still_pending, quiet, final

    held_status, still_pending, quiet, final = run(scenario())
    assert (held_status, still_pending) == ("Pending", "Pending")
    assert quiet, "no key may be pushed while onboarding is held"
    assert final == "Accepted"
    assert [c.state for c in CredentialChange.objects.filter(station__identity="CP3").order_by("id")][-1] == "succeeded"
    assert AuditEvent.objects.filter(action="onboarding.released", actor="cli").exists()


def test_busy_1_6_station_is_reset_only_once_its_transaction_ends(csms, run):
    from ocpp.v16 import call as call16

    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, behaviour=ks.STAGE)

    async def scenario():
        await st.connect()
        await st.boot()
        started = await st.cp.call(call16.StartTransaction(
            connector_id=1, id_tag="TAG", meter_start=0, timestamp="2026-11-21T06:00:00Z"))
        await rotate()
        await async_eventually(lambda: cred().phase == "reboot_pending")
        await st.cp.call(call16.Heartbeat())
        import asyncio
        await asyncio.sleep(2)  # several reconcile rounds: a charging station is not reset
        resets_while_charging = st.resets
        await st.cp.call(call16.StopTransaction(
            transaction_id=started.transaction_id, meter_stop=5000, timestamp="2026-11-21T06:30:00Z"))
        change = await async_eventually(settled, timeout=15)
        await st.disconnect()
        return resets_while_charging, change

    resets_while_charging, change = run(scenario())
    assert resets_while_charging == 0
    assert st.resets == 1 and change.state == "succeeded"


def test_csms_restart_during_a_change_loses_nothing(csms_server, transactional_db, run, live_log_dir):
    from tests.live import LiveServer

    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    node = LiveServer(connection_name(), live_log_dir, name="restarting").start()
    st = ks.KeyedStation(node, "acme", "CP1", AL1000_KEY, behaviour=ks.APPLY_SILENTLY)

    async def scenario():
        await st.connect()
        await rotate()
        await async_eventually(lambda: st.keys_received, timeout=10)
        node.stop()  # the CSMS dies with the key sent and no answer
        await st.disconnect()
        node.start()  # ... and comes back
        st.behaviour = ks.APPLY
        await st.connect()  # the station holds the new key: it must get in
        change = await async_eventually(settled, timeout=10)
        old_ok = await can_connect(node, "CP1", AL1000_KEY)
        await st.disconnect()
        return change, old_ok

    try:
        change, old_ok = run(scenario())
    finally:
        node.stop()
    assert change.state == "succeeded" and old_ok is False


def connection_name():
    from django.db import connection

    return connection.settings_dict["NAME"]


def test_station_offline_when_asked_is_rotated_when_it_connects(csms, run):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, behaviour=ks.APPLY)

    async def scenario():
        await rotate()  # nobody is connected
        await async_eventually(lambda: last_change().state == "queued")
        await st.connect()
        change = await async_eventually(settled, timeout=10)
        await st.disconnect()
        return change

    assert run(scenario()).state == "succeeded"
    assert st.password != AL1000_KEY


def test_pending_station_is_reset_at_once_whatever_the_reset_policy(csms, run):
    tenant = make_tenant("acme", reset_policy="never")
    make_station(tenant, "CP1", MASTER, origin=KeyOrigin.MASTER, needs_unique_key=True)
    st = ks.KeyedStation(csms, "acme", "CP1", MASTER, version="2.0.1", behaviour=ks.STAGE)

    async def scenario():
        await st.connect()
        first = await st.boot()
        change = await async_eventually(settled, timeout=15)
        # After the Reset the station reboots onto its new key and boots again.
        await async_eventually(lambda: len(st.boot_statuses) >= 2, timeout=10)
        final = st.boot_statuses[-1]
        await st.disconnect()
        return first, change, final

    first, change, final = run(scenario())
    assert first == "Pending" and st.resets == 1
    assert (change.state, change.outcome) == ("succeeded", "RebootRequired")
    assert final == "Accepted"


def test_campaign_over_real_stations_pauses_when_stations_refuse(csms, run):
    from csms import campaigns
    from csms.models import RotationCampaign

    tenant = make_tenant("acme")
    behaviours = {"CP1": ks.APPLY, "CP2": ks.REJECT, "CP3": ks.REJECT, "CP4": ks.APPLY, "CP5": ks.APPLY}
    for identity in behaviours:
        make_station(tenant, identity, AL1000_KEY)
    fleet = [ks.KeyedStation(csms, "acme", i, AL1000_KEY, behaviour=b) for i, b in behaviours.items()]

    async def scenario():
        for st in fleet:
            await st.connect()
        stations = await in_thread_db(lambda: list(
            Station.objects.select_related("tenant", "credential").order_by("identity")))()
        campaign = await in_thread_db(lambda: campaigns.start(
            tenant, stations, actor="tester", concurrency=2, canary_size=2, max_failure_percent=40))()

        def paused():
            c = campaigns.advance(campaign.pk)  # what the beat does every 15 s
            return c if c.state == RotationCampaign.State.PAUSED else None

        result = await async_eventually(paused, timeout=20)
        for st in fleet:
            await st.disconnect()
        return result

    campaign = run(scenario())
    assert "failed" in campaign.paused_reason
    # The canary (CP1, CP2) is 1 of 2 failed: 50 % > 40 %, so nobody else was touched.
    touched = [st.identity for st in fleet if st.keys_received]
    assert touched == ["CP1", "CP2"]
    assert fleet[0].password != AL1000_KEY and fleet[1].password == AL1000_KEY


def test_a_scheduled_reset_is_not_a_reboot(csms, run):
    # 2.0.1 answers Reset OnIdle with "Scheduled" while charging. A reconnect with the old
    # password before the restart must not retire the staged one: after the restart the
    # station will use it.
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, version="2.0.1", behaviour=ks.STAGE)
    st.reset_answer = "Scheduled"

    async def scenario():
        await st.connect()
        await st.boot()
        await rotate()
        await async_eventually(lambda: st.resets == 1, timeout=10)
        await st.reconnect()  # a network blip: still on the old password
        await st.boot(reason="Triggered")  # not a restart either
        staged = st.staged
        c = await in_thread_db(cred)()
        still_both = c.phase == "reboot_pending" and verify_secret(staged, c.pending_hash)
        await st.reboot(reason="ScheduledReset")  # the scheduled restart, onto the new password
        change = await async_eventually(settled, timeout=10)
        await st.disconnect()
        return still_both, change

    still_both, change = run(scenario())
    assert still_both
    assert change.state == "succeeded"
    assert st.password != AL1000_KEY


def test_compromised_rotation_ignores_an_impostor_with_the_old_key(csms, run):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, version="2.0.1", behaviour=ks.STAGE)
    st.reset_answer = "Scheduled"  # it is charging: the restart comes later
    impostor = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, version="2.0.1", behaviour=ks.REJECT)

    async def scenario():
        await st.connect()
        station = await in_thread_db(lambda: Station.objects.select_related("tenant", "credential")
                                     .get(identity="CP1"))()
        await in_thread_db(credentials.request_change)(station, "demand", "operator", compromised=True)
        await async_eventually(lambda: cred().phase == "reboot_pending", timeout=10)
        await impostor.connect()  # holds the leaked key ...
        await impostor.boot(reason="PowerUp")  # ... and claims a restart
        await impostor.disconnect()
        c = await in_thread_db(cred)()
        new_still_valid = verify_secret(st.staged, c.pending_hash)
        await st.reboot(reason="ScheduledReset")  # the real restart, onto the new key
        change = await async_eventually(settled, timeout=10)
        old_ok = await can_connect(csms, "CP1", AL1000_KEY, "2.0.1")
        await st.disconnect()
        return new_still_valid, change, old_ok

    new_still_valid, change, old_ok = run(scenario())
    assert new_still_valid
    assert change.state == "succeeded" and change.compromised
    assert old_ok is False


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_call_error_keeps_both_keys_until_a_restart_shows_the_old_one(csms, run, version):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, version=version, behaviour=ks.CALL_ERROR)

    async def scenario():
        await st.connect()
        await st.boot()
        await rotate()
        await async_eventually(lambda: cred().phase == "unknown", timeout=10)
        c = await in_thread_db(cred)()
        both = bool(c.current_hash and c.pending_hash)
        await st.reconnect()  # the firmware comes back on its old key: a Reset settles it
        change = await async_eventually(settled, timeout=15)
        await st.disconnect()
        return both, change

    both, change = run(scenario())
    assert both
    assert (change.state, change.outcome) == ("failed", "CallError")
    assert st.resets == 1 and st.password == AL1000_KEY
    call = StationCall.objects.get(purpose=StationCall.Purpose.CREDENTIAL)
    assert call.state == "error" and call.error_code == "InternalError"

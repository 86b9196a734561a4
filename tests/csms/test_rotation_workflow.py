"""The workflow around key changes: retries, schedules, the reaper, the CLI, audit."""
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from csms import credentials, lifecycle, rotation, services, tasks
from csms.models import AuditEvent, CredentialChange, KeyOrigin, Station, StationCall, StationCredential
from csms.rotation import Outcome
from tests.commands import run_cmd
from tests.factories import AL1000_KEY, end_call, make_station, make_tenant

pytestmark = pytest.mark.django_db



def send_and_answer(station, outcome: Outcome, version="ocpp1.6"):
    """What the consumer does: claim the queued credential call, send it, get an answer."""
    call = services.claim_next_call(station.pk)
    assert call.purpose == StationCall.Purpose.CREDENTIAL
    prepared = credentials.prepare_call(call.pk, version)
    end_call(call, outcome, version)
    return prepared


def fail_once(station, minutes_ago):
    change = credentials.request_change(station, "demand", "tester")
    send_and_answer(station, Outcome.REJECTED)
    CredentialChange.objects.filter(pk=change.pk).update(
        resolved_at=timezone.now() - timedelta(minutes=minutes_ago))


def test_prepared_1_6_call_carries_a_fresh_20_byte_key_and_stores_only_its_hash():
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    credentials.request_change(station, "demand", "tester")
    call = StationCall.objects.get(purpose=StationCall.Purpose.CREDENTIAL)
    prepared = credentials.prepare_call(call.pk, "ocpp1.6")
    assert prepared.action == "ChangeConfiguration"
    value = prepared.payload["value"]
    assert prepared.payload["key"] == "AuthorizationKey" and len(bytes.fromhex(value)) == 20
    cred = StationCredential.objects.get(station=station)
    assert cred.phase == "in_flight" and cred.pending_hash.startswith("pbkdf2_sha256_generated$")
    assert value not in str(StationCall.objects.get(pk=call.pk).payload)
    assert value not in cred.pending_hash


def test_prepared_2_0_1_call_sets_basic_auth_password():
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    credentials.request_change(station, "demand", "tester")
    call = StationCall.objects.get(purpose=StationCall.Purpose.CREDENTIAL)
    prepared = credentials.prepare_call(call.pk, "ocpp2.0.1")
    [item] = prepared.payload["setVariableData"]
    assert prepared.action == "SetVariables"
    assert item["component"] == {"name": "SecurityCtrlr"} and item["variable"] == {"name": "BasicAuthPassword"}
    assert len(item["attributeValue"]) == 40 and item["attributeValue"].isalnum()


@pytest.mark.parametrize("failures, minutes_ago, due", [
    (1, 0.5, False), (1, 2, True),
    (2, 4, False), (2, 6, True),
    (3, 29, False), (3, 31, True),
])
def test_failed_changes_are_retried_with_backoff(failures, minutes_ago, due):
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    for _ in range(failures):
        fail_once(station, minutes_ago)
    queued = credentials.retry_due()
    assert bool(queued) is due
    if due:
        assert queued[0].trigger == "retry" and queued[0].attempt == failures + 1


def test_repeated_failures_raise_an_alert():
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    for _ in range(3):
        fail_once(station, 60 * 24)
    alerts = AuditEvent.objects.filter(station=station, action="credential.alert")
    assert alerts.count() == 1 and "3 failed" in alerts.get().outcome


def test_old_keys_are_rotated_on_schedule():
    tenant = make_tenant(max_key_age_days=30)
    old = make_station(tenant, "OLD", AL1000_KEY)
    young = make_station(tenant, "YOUNG", AL1000_KEY)
    StationCredential.objects.filter(station=old).update(current_since=timezone.now() - timedelta(days=31))
    StationCredential.objects.filter(station=young).update(current_since=timezone.now() - timedelta(days=29))
    assert tasks.rotate_expiring_keys.apply().get() == 1
    assert CredentialChange.objects.get().station == old
    assert CredentialChange.objects.get().trigger == "schedule"
    assert tasks.rotate_expiring_keys.apply().get() == 0  # never a second change on top


def test_tenant_without_max_age_is_never_rotated_on_schedule():
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    StationCredential.objects.filter(station=station).update(current_since=timezone.now() - timedelta(days=3650))
    assert credentials.rotate_old_keys() == []


def test_reaper_turns_an_orphaned_credential_call_into_an_unknown_outcome():
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    credentials.request_change(station, "demand", "tester")
    call = StationCall.objects.get(purpose=StationCall.Purpose.CREDENTIAL)
    credentials.prepare_call(call.pk, "ocpp1.6")
    StationCall.objects.filter(pk=call.pk).update(state="sent", sent_at=timezone.now() - timedelta(hours=1))
    assert tasks.reap_orphaned_calls.apply().get() == 1
    cred = StationCredential.objects.get(station=station)
    assert cred.phase == "unknown" and cred.pending_hash and cred.current_hash  # both still valid


def test_station_rotate_and_rotation_status_commands():
    station = make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    out = json.loads(run_cmd("station", "rotate", "acme", "CP1", "--json"))
    assert out["state"] == "queued" and out["trigger"] == "demand"
    with pytest.raises(CommandError, match="already queued"):
        run_cmd("station", "rotate", "acme", "CP1")
    status = json.loads(run_cmd("rotation", "status", "acme", "CP1", "--json"))
    assert status["phase"] == "idle" and status["valid_keys"] == 1
    assert status["last_change"]["state"] == "queued" and status["current_key"]["origin"] == "installed"
    send_and_answer(station, Outcome.REBOOT_REQUIRED)
    status = json.loads(run_cmd("rotation", "status", "acme", "--json"))
    assert status[0]["phase"] == "reboot_pending" and status[0]["valid_keys"] == 2
    assert status[0]["last_change"]["outcome"] == "RebootRequired"
    assert "reboot_pending" in run_cmd("rotation", "status", "acme")


def test_station_add_with_master_key_marks_it_for_onboarding():
    make_tenant("acme")
    run_cmd("station", "add", "acme", "CP1", "--master-key", "11" * 20)
    cred = StationCredential.objects.get(station__identity="CP1")
    assert cred.needs_unique_key and cred.current_origin == KeyOrigin.MASTER
    assert cred.station.effective_registration == "Pending"


def write_csv(tmp_path, text):
    path = tmp_path / "stations.csv"
    path.write_text(text)
    return str(path)


def test_station_import_registers_every_row_for_onboarding(tmp_path):
    make_tenant("acme")
    path = write_csv(tmp_path, "identity,protocols\nCP-1,ocpp1.6\nCP-2,\nCP 3,ocpp1.6\nCP_4,ocpp1.6;ocpp2.0.1\n")
    err = io.StringIO()
    out = io.StringIO()
    call_command("station", "import", "acme", path, "--master-key", "ab" * 20, "--json",
                 stdout=out, stderr=err)
    assert json.loads(out.getvalue()) == {"imported": 4, "with_key": 0, "onboarding": 4, "skipped": 0}
    assert "4/4" in err.getvalue()  # the progress bar
    creds = StationCredential.objects.select_related("station").order_by("station__identity")
    assert [c.station.identity for c in creds] == ["CP 3", "CP-1", "CP-2", "CP_4"]
    assert all(c.needs_unique_key and c.current_origin == KeyOrigin.MASTER for c in creds)
    assert Station.objects.get(identity="CP-1").allowed_protocols == ["ocpp1.6"]
    assert Station.objects.get(identity="CP_4").allowed_protocols == ["ocpp1.6", "ocpp2.0.1"]
    # The series key is hashed once and the hash shared: the secret is the same anyway.
    assert len({c.current_hash for c in creds}) == 1
    assert credentials.keys.verify_key(bytes.fromhex("ab" * 20), creds[0].current_hash)


@pytest.mark.parametrize("text, message", [
    ("name\nCP-1\n", "'identity'"),
    ("identity\nCP-1\nCP-1\n", "line 3: CP-1 appears twice"),
    ("identity\nCP:1\n", "line 2: 'CP:1': identity may not contain ':'"),
    ("identity,protocols\nCP-1,ocpp1.5\n", "line 2: unknown protocol"),
])
def test_station_import_refuses_bad_files_without_writing_anything(tmp_path, text, message):
    make_tenant("acme")
    with pytest.raises(CommandError, match=message):
        run_cmd("station", "import", "acme", write_csv(tmp_path, text), "--master-key", "ab" * 20)
    assert not Station.objects.exists()


def test_station_import_existing_stations(tmp_path):
    tenant = make_tenant("acme")
    make_station(tenant, "CP-1", AL1000_KEY)
    path = write_csv(tmp_path, "identity\nCP-1\nCP-2\n")
    with pytest.raises(CommandError, match="line 2: CP-1 already exists"):
        run_cmd("station", "import", "acme", path, "--master-key", "ab" * 20)
    out = json.loads(run_cmd("station", "import", "acme", path, "--master-key", "ab" * 20,
                             "--skip-existing", "--json"))
    assert out == {"imported": 1, "with_key": 0, "onboarding": 1, "skipped": 1}
    assert not StationCredential.objects.get(station__identity="CP-1").needs_unique_key


def test_a_late_outcome_never_reopens_a_settled_change():
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    change = credentials.request_change(station, "demand", "tester")
    call = services.claim_next_call(station.pk)
    prepared = credentials.prepare_call(call.pk, "ocpp1.6")
    new_hash = StationCredential.objects.get(station=station).pending_hash
    assert credentials.keys.verify_secret(bytes.fromhex(prepared.payload["value"]), new_hash)
    credentials.record_proof(station.pk, new_hash)  # reconnected elsewhere with the new key
    end_call(call, Outcome.DROPPED)  # ... then the old socket's close lands
    change.refresh_from_db()
    assert change.state == "succeeded"
    assert StationCredential.objects.get(station=station).phase == "idle"
    assert AuditEvent.objects.filter(action="credential.stale_outcome_ignored").exists()
    credentials.request_change(station, "demand", "tester")  # and the station can be rotated again


def test_only_a_carried_out_reset_and_the_restart_patience_retire_a_staged_key(settings):
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    old_hash = StationCredential.objects.get(station=station).current_hash
    credentials.request_change(station, "demand", "tester")
    send_and_answer(station, Outcome.REBOOT_REQUIRED)
    credentials.record_proof(station.pk, old_hash)  # reconnected before any Reset: proves nothing
    credentials.record_reset_accepted(station.pk)
    credentials.record_proof(station.pk, old_hash)  # reconnected before carrying it out (kill drill)
    assert credentials.housekeeping(station.pk).result is None
    assert StationCredential.objects.get(station=station).phase == "reboot_pending"
    credentials.record_socket_closed(station.pk, by_station=True)  # the station closed that socket itself
    credentials.record_proof(station.pk, old_hash)  # ... and came back on the old key
    cred = StationCredential.objects.get(station=station)
    assert cred.phase == "reboot_pending" and cred.pending_hash  # a blip? both stay valid
    settings.CSMS = {**settings.CSMS, "RESET_PATIENCE_SECONDS": 0}
    assert credentials.housekeeping(station.pk).result is rotation.Result.FAILED
    cred = StationCredential.objects.get(station=station)
    assert cred.phase == "idle" and cred.current_hash == old_hash and not cred.pending_hash


def test_changing_credentials_through_station_call_is_refused():
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    for action, payload in [
        ("ChangeConfiguration", {"key": "AuthorizationKey", "value": "00" * 20}),
        ("ChangeConfiguration", {"key": "SecurityProfile", "value": "0"}),
        ("SetVariables", {"setVariableData": [{"attributeValue": "x" * 20, "component": {"name": "SecurityCtrlr"},
                                               "variable": {"name": "BasicAuthPassword"}}]}),
    ]:
        with pytest.raises(services.CallRejected, match="station rotate"):
            services.queue_call(station, action, payload)
    assert not StationCall.objects.exists()


def test_credentials_echoed_by_a_station_are_not_stored():
    assert services.scrub_response("GetConfiguration", {"configurationKey": [
        {"key": "AuthorizationKey", "readonly": False, "value": "00" * 20},
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}) == {"configurationKey": [
        {"key": "AuthorizationKey", "readonly": False, "value": "[redacted]"},
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    scrubbed = services.scrub_response("GetVariables", {"getVariableResult": [
        {"attributeStatus": "Accepted", "attributeValue": "hunter2hunter2hunter2",
         "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]})
    assert scrubbed["getVariableResult"][0]["attributeValue"] == "[redacted]"


def test_a_credential_call_that_could_not_be_sent_does_not_block_the_next_change():
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    change = credentials.request_change(station, "demand", "tester")
    call = services.claim_next_call(station.pk)
    lifecycle.unsendable(call.pk, call.purpose, "database away")
    change.refresh_from_db()
    assert change.state == "failed" and "not sent" in change.detail
    assert StationCredential.objects.get(station=station).phase == "idle"  # nothing was sent
    credentials.request_change(station, "demand", "tester")


def test_the_beat_schedules_cost_the_same_queries_for_a_fleet_of_any_size():
    # Fleet-wide work grows with the work: the retry and key-age schedules find their
    # stations in SQL instead of asking per station (issue 9).
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    tenant = make_tenant(max_key_age_days=30)
    failed = make_station(tenant, "FAILED", AL1000_KEY)
    fail_once(failed, minutes_ago=0)  # in its backoff: found, not retried

    def queries():
        with CaptureQueriesContext(connection) as seen:
            assert credentials.retry_due() == [] and credentials.rotate_old_keys() == []
        return len(seen)

    few = queries()
    for i in range(40):
        make_station(tenant, f"CP{i}", AL1000_KEY)
    assert queries() == few


def test_only_a_failed_last_change_is_retried_and_not_while_onboarding_is_held():
    tenant = make_tenant()
    moved_on = make_station(tenant, "MOVED-ON", AL1000_KEY)
    fail_once(moved_on, minutes_ago=60)
    credentials.request_change(moved_on, "demand", "tester")  # its last change is not the failed one
    onboarding = make_station(tenant, "NEW", AL1000_KEY, needs_unique_key=True)
    fail_once(onboarding, minutes_ago=60)
    tenant.onboarding_held_since = timezone.now()
    tenant.save(update_fields=["onboarding_held_since"])
    assert credentials.retry_due() == []
    tenant.onboarding_held_since = None
    tenant.save(update_fields=["onboarding_held_since"])
    assert [c.station.identity for c in credentials.retry_due()] == ["NEW"]

"""The CLI as a new user finds it (issue 12): what it says, and the commands it lacked."""
import asyncio
import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from csms import campaigns, credentials
from csms.models import AuditEvent, KeyOrigin, Station, StationCall
from oauth.models import Client
from tenants.models import Membership
from tests.commands import run_cmd
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import station
from tests.waiting import async_eventually, in_thread_db

pytestmark = pytest.mark.django_db

MASTER = bytes.fromhex("00112233445566778899aabbccddeeff00112233")


def run_both(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_show_says_a_master_key_station_is_onboarding():
    tenant = make_tenant("acme")
    make_station(tenant, "CP003", MASTER, origin=KeyOrigin.MASTER, needs_unique_key=True)
    make_station(tenant, "CP004", AL1000_KEY)
    shown = json.loads(run_cmd("station", "show", "acme", "CP003", "--json"))
    assert shown["registration_status"] == "Pending" and shown["registration_setting"] == "Accepted"
    assert shown["onboarding"] == "holds its series key; it is given a unique key when it connects and boots"
    assert "onboarding           holds its series key" in run_cmd("station", "show", "acme", "CP003")
    assert json.loads(run_cmd("station", "show", "acme", "CP004", "--json"))["onboarding"] is None


def test_a_wait_that_times_out_says_so_and_what_to_do():
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    out, err = run_both("station", "call", "acme", "CP1", "Reset", '{"type": "Soft"}', "--wait", "0.3")
    call = StationCall.objects.get()
    assert out.strip() == f"call {call.pk} Reset: queued"
    assert (f"no answer within --wait 0.3 s: call {call.pk} is still queued (the station is offline: it is "
            "sent when the station next connects)") in err
    assert "`station calls acme CP1`" in err and f"`station call-cancel acme CP1 {call.pk}`" in err
    out, _ = run_both("station", "call", "acme", "CP1", "Reset", '{"type": "Hard"}', "--wait", "0.3", "--json")
    assert json.loads(out)["wait_timed_out"] is True


def test_rotation_status_says_what_the_last_change_waits_for():
    station_row = make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    assert "never rotated" in run_cmd("rotation", "status", "acme")
    change = credentials.request_change(station_row, "demand", "cli")
    line = run_cmd("rotation", "status", "acme", "CP1")
    assert f"last change {change.pk} (demand, " in line
    assert "waiting to be sent (when the station connects)" in line
    assert "(-)" not in line
    status = json.loads(run_cmd("rotation", "status", "acme", "CP1", "--json"))
    assert status["last_change"]["stage"] == "waiting to be sent (when the station connects)"


def test_a_second_campaign_over_the_same_stations_is_refused_by_the_service():
    tenant = make_tenant("acme")
    rows = [make_station(tenant, f"CP{i}", AL1000_KEY) for i in range(3)]
    first = campaigns.start(tenant, rows[:2], actor="test", name="spring", canary_size=1, concurrency=1)
    with pytest.raises(campaigns.Overlap, match=rf"1 of these stations \(CP1\) are in campaign {first.pk} 'spring'"):
        campaigns.start(tenant, rows[1:], actor="test")
    with pytest.raises(CommandError, match=rf"in campaign {first.pk} 'spring' \(running\)"):
        run_cmd("rotation", "campaign", "start", "acme", "--all")
    campaigns.start(tenant, rows[2:], actor="test")  # no overlap: fine


def test_idtag_remove_takes_json():
    make_tenant("acme")
    run_cmd("idtag", "add", "acme", "TAG1")
    assert json.loads(run_cmd("idtag", "remove", "acme", "TAG1", "--json"))["removed"] is True
    assert run_cmd("idtag", "list", "acme") == "no id tags in acme\n"


def test_station_calls_lists_and_call_cancel_withdraws_a_queued_call():
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    run_cmd("station", "call", "acme", "CP1", "Reset", '{"type": "Soft"}')
    call = StationCall.objects.get()
    listed = json.loads(run_cmd("station", "calls", "acme", "CP1", "--json"))
    assert [(c["id"], c["state"]) for c in listed] == [(call.pk, "queued")]
    assert run_cmd("station", "call-cancel", "acme", "CP1", str(call.pk)).strip() == f"call {call.pk} Reset: cancelled"
    assert json.loads(run_cmd("station", "calls", "acme", "CP1", "--json")) == []
    assert json.loads(run_cmd("station", "calls", "acme", "CP1", "--all", "--json"))[0]["state"] == "cancelled"
    with pytest.raises(CommandError, match="is cancelled, no longer queued"):
        run_cmd("station", "call-cancel", "acme", "CP1", str(call.pk))
    with pytest.raises(CommandError, match="no call 999"):
        run_cmd("station", "call-cancel", "acme", "CP1", "999")


def test_station_remove_asks_first_and_removes_with_yes():
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    with pytest.raises(CommandError, match="Not confirmed: give --yes"):
        run_cmd("station", "remove", "acme", "CP1")
    assert Station.objects.exists()
    assert json.loads(run_cmd("station", "remove", "acme", "CP1", "--yes", "--json")) == {
        "identity": "CP1", "removed": True, "was_connected": False}
    assert not Station.objects.exists()
    assert AuditEvent.objects.filter(action="station.removed", detail__identity="CP1").exists()


@pytest.mark.django_db(transaction=True)
def test_removing_a_connected_station_closes_its_socket(csms, run):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            await async_eventually(lambda: Station.objects.get(identity="CP1").connected)
            removed = await in_thread_db(run_cmd)("station", "remove", "acme", "CP1", "--yes", "--json")
            await asyncio.wait_for(cp._connection.wait_closed(), 10)
            return json.loads(removed)

    assert run(scenario())["was_connected"] is True
    assert not Station.objects.exists()


def test_user_list_and_remove(monkeypatch):
    make_tenant("acme")
    make_tenant("beta")
    for tenant in ("acme", "beta"):
        monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password 42\n"))
        run_cmd("user", "add", tenant, "alice", "--role", "operator", "--password-stdin")
    rows = json.loads(run_cmd("user", "list", "acme", "--json"))
    assert rows == [{"username": "alice", "role": "operator", "active": True}]
    assert run_cmd("user", "list", "acme").strip() == "alice\toperator"
    with pytest.raises(CommandError, match="give --yes"):
        run_cmd("user", "remove", "acme", "alice")
    assert "still in 1 other tenant" in run_cmd("user", "remove", "acme", "alice", "--yes")
    assert not Membership.objects.filter(tenant__slug="acme").exists()
    assert get_user_model().objects.filter(username="alice").exists()
    with pytest.raises(CommandError, match="no user 'alice' in acme"):
        run_cmd("user", "remove", "acme", "alice", "--yes")


def test_oauth_client_remove():
    make_tenant("rail", is_osdm_provider=True)
    run_cmd("oauth", "client", "add", "rail", "consumer", "--grant", "client_credentials", "--scope", "uic_osdm")
    with pytest.raises(CommandError, match="give --yes"):
        run_cmd("oauth", "client", "remove", "rail", "consumer")
    assert json.loads(run_cmd("oauth", "client", "remove", "rail", "consumer", "--yes", "--json")) == {
        "client_id": "consumer", "removed": True}
    assert not Client.objects.filter(client_id="consumer").exists()
    # An empty list says so, as `user list` does, rather than printing nothing.
    assert run_cmd("oauth", "client", "list", "rail").strip() == "no clients in rail"
    assert run_cmd("oauth", "trust", "list", "rail").strip() == "no trust records in rail"
    assert run_cmd("station", "list", "rail").strip() == "no stations in rail"
    assert run_cmd("idtag", "list", "rail").strip() == "no id tags in rail"
    assert json.loads(run_cmd("station", "list", "rail", "--json")) == []


RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


def test_every_json_timestamp_has_the_one_format(tmp_path):
    """CLI, REST API and stored event details alike: `2026-12-02T12:25:51Z` (lib.timestamps),
    never `+00:00` with microseconds nor a space."""
    from joserfc.jwk import ECKey

    from csms import auth_audit

    tenant = make_tenant("acme")
    cp = make_station(tenant, "CP1", AL1000_KEY)
    pem = tmp_path / "key.pem"
    pem.write_bytes(ECKey.generate_key("P-256").as_pem(private=False))
    added = json.loads(run_cmd("station", "key", "add", "acme", "CP1", str(pem), "--kid", "k1", "--json"))
    listed = json.loads(run_cmd("station", "key", "list", "acme", "CP1", "--json"))
    assert all(re.match(RFC3339, row["created_at"]) for row in (added, *listed)), listed
    when = timezone.now()
    decision = auth_audit.Decision(tenant.pk, cp.pk, "basic", "challenged", "wrong key", "127.0.0.1")
    auth_audit.event(decision, auth_audit._Seen(2, when, when)).save()
    logged = json.loads(run_cmd("station", "auth", "log", "acme", "CP1", "--json"))["events"]
    assert [(re.match(RFC3339, e["at"]) is not None, re.match(RFC3339, e["first"]) is not None) for e in logged] \
        == [(True, True)], logged

"""`manage.py station ...` and `manage.py tenant ...`: the scripting interface."""
import json

import pytest
from django.core.management import CommandError

from csms import credentials
from csms.auth.keys import verify_key
from csms.models import CredentialChange, Station, StationCall
from tests.commands import run_cmd
from tests.factories import AL1000_KEY, make_station, make_tenant

pytestmark = pytest.mark.django_db



def test_tenant_add_and_list_json():
    created = json.loads(run_cmd("tenant", "add", "acme", "--name", "ACME Charging", "--emsp", "--json"))
    assert created == {"slug": "acme", "name": "ACME Charging", "operates_charging_stations": True,
                       "is_emsp": True, "is_osdm_provider": False, "heartbeat_interval": 300,
                       "accept_hex_basic_password": True, "require_pushed_authorization_requests": False,
                       "rotation": {"mode": "safe", "reset_policy": "when_idle", "grace_seconds": 600,
                                    "max_key_age_days": None, "onboarding_limit": "50/60",
                                    "onboarding_held": False},
                       "emsp_id": None, "pnc_key_profile": "iso15118-2"}
    assert [t["slug"] for t in json.loads(run_cmd("tenant", "list", "--json"))] == ["acme"]
    changed = json.loads(run_cmd("tenant", "set", "acme", "--require-par", "yes", "--json"))
    assert changed["require_pushed_authorization_requests"] is True


@pytest.mark.parametrize("slug", ["Bad Slug", "-x", "UPPER", "a" * 51])
def test_tenant_add_rejects_bad_slugs(slug):
    with pytest.raises(CommandError, match="slug"):
        run_cmd("tenant", "add", slug, "--name", "X")


def test_station_add_with_key_stores_only_a_hash():
    make_tenant("acme")
    out = run_cmd("station", "add", "acme", "AL1000", "--key", AL1000_KEY.hex(), "--json")
    shown = json.loads(out)
    assert "key" not in shown and AL1000_KEY.hex() not in out.lower()
    station = Station.objects.get(identity="AL1000")
    assert station.credential.current_hash.startswith("argon2$argon2id$")
    assert AL1000_KEY.hex() not in station.credential.current_hash
    assert verify_key(AL1000_KEY, station.credential.current_hash)


def test_generated_key_is_printed_once_and_works():
    make_tenant("acme")
    shown = json.loads(run_cmd("station", "add", "acme", "CP9", "--generate-key", "--json"))
    key = bytes.fromhex(shown["key"])
    assert len(key) == 20
    stored = Station.objects.get(identity="CP9").credential.current_hash
    assert stored.startswith("pbkdf2_sha256_generated$")  # drawn here: the cheap hash
    assert verify_key(key, stored)
    again = run_cmd("station", "show", "acme", "CP9", "--json") + run_cmd("station", "list", "acme", "--json")
    assert shown["key"] not in again


def test_generated_key_text_output_warns_it_is_shown_once():
    make_tenant("acme")
    out = run_cmd("station", "add", "acme", "CP9", "--generate-key")
    assert "shown once" in out


@pytest.mark.parametrize("key, message", [
    ("abc", "40 hexadecimal"),
    ("zz" * 20, "hexadecimal"),
])
def test_station_add_rejects_bad_keys(key, message):
    make_tenant("acme")
    with pytest.raises(CommandError, match=message):
        run_cmd("station", "add", "acme", "CP1", "--key", key)
    assert not Station.objects.exists()


def test_station_add_refuses_duplicates_and_unknown_tenants():
    tenant = make_tenant("acme")
    make_station(tenant, "CP1")
    with pytest.raises(CommandError, match="already exists"):
        run_cmd("station", "add", "acme", "CP1", "--generate-key")
    with pytest.raises(CommandError, match="no tenant"):
        run_cmd("station", "add", "nope", "CP1", "--generate-key")


def test_station_add_options():
    make_tenant("acme")
    shown = json.loads(run_cmd("station", "add", "acme", "CP1", "--generate-key", "--registration",
                               "Pending", "--protocols", "ocpp2.0.1", "--json"))
    assert shown["registration_status"] == "Pending"
    assert shown["allowed_protocols"] == ["ocpp2.0.1"]
    with pytest.raises(CommandError, match="unknown protocol"):
        run_cmd("station", "add", "acme", "CP2", "--generate-key", "--protocols", "ocpp1.5")


def test_station_list_and_show_are_tenant_scoped():
    acme, other = make_tenant("acme"), make_tenant("other")
    make_station(acme, "CP1", vendor="VendorX")
    make_station(other, "CP2")
    listed = json.loads(run_cmd("station", "list", "acme", "--json"))
    assert [s["identity"] for s in listed] == ["CP1"]
    with pytest.raises(CommandError, match="no station"):
        run_cmd("station", "show", "acme", "CP2")
    shown = json.loads(run_cmd("station", "show", "acme", "CP1", "--json"))
    assert shown["vendor"] == "VendorX" and shown["connected"] is False
    assert shown["registration_status"] == "Accepted" and shown["connectors"] == []
    text = run_cmd("station", "show", "acme", "CP1")
    assert "VendorX" in text and "key_hash" not in text


def test_station_call_queues_a_validated_call():
    make_station(make_tenant("acme"), "CP1", allowed_protocols=["ocpp1.6"])
    shown = json.loads(run_cmd("station", "call", "acme", "CP1", "Reset", '{"type": "Soft"}', "--json"))
    assert shown["state"] == "queued" and shown["action"] == "Reset"
    assert StationCall.objects.get().payload == {"type": "Soft"}
    with pytest.raises(CommandError, match="not valid JSON"):
        run_cmd("station", "call", "acme", "CP1", "Reset", "{type")
    with pytest.raises(CommandError, match="required"):
        run_cmd("station", "call", "acme", "CP1", "Reset", "{}")
    assert StationCall.objects.count() == 1


def test_station_set_changes_registration_and_protocols():
    make_station(make_tenant("acme"), "CP1")
    shown = json.loads(run_cmd("station", "set", "acme", "CP1", "--registration", "Pending",
                               "--protocols", "ocpp1.6", "--json"))
    assert shown["registration_status"] == "Pending" and shown["allowed_protocols"] == ["ocpp1.6"]
    assert Station.objects.get().registration_status == "Pending"
    with pytest.raises(CommandError, match="nothing to change"):
        run_cmd("station", "set", "acme", "CP1")


def test_tenant_set_changes_station_policy():
    make_tenant("acme")
    shown = json.loads(run_cmd("tenant", "set", "acme", "--heartbeat-interval", "120",
                               "--accept-hex-password", "no", "--json"))
    assert shown["heartbeat_interval"] == 120 and shown["accept_hex_basic_password"] is False
    with pytest.raises(CommandError, match="1..86400"):
        run_cmd("tenant", "set", "acme", "--heartbeat-interval", "0")
    with pytest.raises(CommandError, match="no tenant"):
        run_cmd("tenant", "set", "nope", "--name", "x")


def test_idtag_lifecycle():
    make_tenant("acme")
    added = json.loads(run_cmd("idtag", "add", "acme", "04E1A2B3", "--expires",
                               "2020-01-01T00:00:00Z", "--json"))
    assert added["status"] == "Accepted" and added["effective_status"] == "Expired"
    with pytest.raises(CommandError, match="already exists"):
        run_cmd("idtag", "add", "acme", "04e1a2b3")  # tokens are case-insensitive
    changed = json.loads(run_cmd("idtag", "set", "acme", "04e1a2b3", "--status", "Blocked",
                                 "--expires", "never", "--json"))
    assert changed == {"id_tag": "04E1A2B3", "status": "Blocked", "effective_status": "Blocked",
                       "expires_at": None, "parent_id_tag": None}
    assert [t["id_tag"] for t in json.loads(run_cmd("idtag", "list", "acme", "--json"))] == ["04E1A2B3"]
    with pytest.raises(CommandError, match="UTC offset"):
        run_cmd("idtag", "set", "acme", "04E1A2B3", "--expires", "tomorrow")
    run_cmd("idtag", "remove", "acme", "04E1A2B3")
    assert json.loads(run_cmd("idtag", "list", "acme", "--json")) == []


def test_tenant_set_rotation_policy():
    make_tenant("acme")
    shown = json.loads(run_cmd("tenant", "set", "acme", "--rotation-mode", "strict", "--reset-policy",
                               "never", "--rotation-grace", "120", "--max-key-age", "90",
                               "--onboarding-limit", "5/10", "--json"))
    assert shown["rotation"] == {"mode": "strict", "reset_policy": "never", "grace_seconds": 120,
                                 "max_key_age_days": 90, "onboarding_limit": "5/10",
                                 "onboarding_held": False}
    assert json.loads(run_cmd("tenant", "set", "acme", "--max-key-age", "off", "--json"))[
        "rotation"]["max_key_age_days"] is None
    for bad in (["--max-key-age", "0"], ["--onboarding-limit", "5"], ["--rotation-grace", "0"]):
        with pytest.raises(CommandError):
            run_cmd("tenant", "set", "acme", *bad)


def test_keys_can_come_from_stdin(monkeypatch):
    import io as _io

    make_tenant("acme")
    monkeypatch.setattr("sys.stdin", _io.StringIO(AL1000_KEY.hex() + "\n"))
    run_cmd("station", "add", "acme", "CP1", "--key", "-")
    assert verify_key(AL1000_KEY, Station.objects.get(identity="CP1").credential.current_hash)


def test_rekey_replaces_every_key_and_cancels_an_open_change():
    """A station whose unique key someone claimed with the series key is put back into
    onboarding; an operator-set key replaces whatever was valid, rotation included."""
    station = make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    change = credentials.request_change(station, "demand", "tester")
    call = StationCall.objects.get(purpose=StationCall.Purpose.CREDENTIAL)
    credentials.prepare_call(call.pk, "ocpp1.6")  # two keys valid now
    master = bytes(range(20))
    out = run_cmd("station", "rekey", "acme", "CP1", "--master-key", master.hex(), "--json")
    assert master.hex() not in out
    cred = Station.objects.get(identity="CP1").credential
    assert cred.phase == "idle" and not cred.pending_hash and not cred.previous_hash
    assert cred.current_origin == "master" and cred.needs_unique_key
    assert verify_key(master, cred.current_hash) and not verify_key(AL1000_KEY, cred.current_hash)
    assert CredentialChange.objects.get(pk=change.pk).state == CredentialChange.State.CANCELLED
    assert Station.objects.get(identity="CP1").effective_registration == "Pending"

    shown = json.loads(run_cmd("station", "rekey", "acme", "CP1", "--generate-key", "--json"))
    cred = Station.objects.get(identity="CP1").credential
    assert verify_key(bytes.fromhex(shown["key"]), cred.current_hash) and not cred.needs_unique_key
    assert cred.current_hash.startswith("pbkdf2_sha256_generated$")


def test_rekey_of_an_unknown_station_or_with_a_bad_key_is_a_clear_error():
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    with pytest.raises(CommandError, match="hexadecimal|40"):
        run_cmd("station", "rekey", "acme", "CP1", "--key", "zz" * 20)
    with pytest.raises(CommandError, match="CP2"):
        run_cmd("station", "rekey", "acme", "CP2", "--generate-key")
    assert verify_key(AL1000_KEY, Station.objects.get(identity="CP1").credential.current_hash)

"""EAP secrets at rest: sealed per key, made wherever a key is set — registration, import,
rotation — and only for stations whose method list names EAP at that moment."""
import pytest

from csms import credentials, station_methods
from csms.models import StationCredential
from tests.csms.test_station_import import import_, write_csv
from tests.factories import AL1000_KEY, make_station, make_tenant

pytestmark = pytest.mark.django_db

KEY_HEX = AL1000_KEY.hex().upper().encode()


def eap_passwords(identity):
    station = StationCredential.objects.select_related("station__tenant").get(station__identity=identity).station
    return [passwords for _, passwords in credentials.stored(station, "10.0.0.1").eap.secrets()]


def test_import_and_registration_seal_it_only_where_eap_is_allowed(tmp_path):
    tenant = make_tenant("acme")
    make_station(tenant, "PLAIN")
    station_methods.set_default_methods(tenant, ["eap", "basic"])
    make_station(tenant, "BY-HAND")
    import_(write_csv(tmp_path, f"identity,key\nIMPORTED,{AL1000_KEY.hex()}\n"))
    assert eap_passwords("PLAIN") == []
    assert eap_passwords("BY-HAND") == eap_passwords("IMPORTED") == [(KEY_HEX, KEY_HEX.lower())]


def test_a_rotation_gives_the_new_key_its_secret_and_keeps_the_old_one():
    station = make_station(make_tenant("acme"), "CP1", auth_methods=["eap", "basic"])
    change = credentials.request_change(station, "demand", "test")
    new_hex = credentials.prepare_call(change.call_id, "ocpp1.6").payload["value"].encode()
    assert sorted(eap_passwords("CP1")) == sorted([(KEY_HEX, KEY_HEX.lower()), (new_hex, new_hex.lower())])
    sealed = StationCredential.objects.get(station=station)
    assert AL1000_KEY.hex() not in (sealed.current_eap + sealed.pending_eap).lower()

"""HTTP EAP with EAP-MD5 on a live uvicorn server, with a real WebSocket client
(`websockets`) and the reference station client's EAP side (stationclient/eap.py): the rounds of
the draft's flow on OCPP 1.6 and 2.0.1 ending in a 101 whose `Authentication-Info` is
EAP-Success; a wrong response answered with EAP-Failure; a wrong identifier, a replayed,
expired or another station's round, and EAP for a station not allowed it answered with
the plain challenges; both keys of an open key change; the secret sealed only for
stations allowed EAP."""
import base64
import time

import pytest
from django.core.management.base import CommandError

from csms import credentials
from csms.models import Station, StationCredential
from stationclient import eap as eap_client
from stationclient.eap import EapClient, eap_challenge
from tests.commands import run_cmd
from tests.eap_client import attempt
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import basic_auth

pytestmark = pytest.mark.django_db(transaction=True)

REALM = "Chargegate acme"
KEY_HEX = AL1000_KEY.hex().upper().encode()


@pytest.fixture
def tenant():
    return make_tenant("acme")


@pytest.fixture
def station(tenant):
    return make_station(tenant, "CP1", auth_methods=["eap", "basic"])


def first_challenge(run, server, identity="CP1", protocol="ocpp1.6"):
    status, values, _ = run(attempt(server, identity, None, protocol))
    assert status == 401
    return eap_challenge(values), values


def md5_round(run, server, client, protocol="ocpp1.6", unsolicited=False):
    """The Identity exchange: the MD5-Challenge round the server opens."""
    if unsolicited:
        client.realm = REALM
        status, values, _ = run(attempt(server, client.identity, client.identity_response(), protocol))
    else:
        identity_request, _ = first_challenge(run, server, client.identity, protocol)
        assert identity_request["type"] == eap_client.IDENTITY
        status, values, _ = run(attempt(server, client.identity, client.answer(identity_request), protocol))
    assert status == 401
    md5 = eap_challenge(values)
    assert (md5["code"], md5["type"]) == (eap_client.REQUEST, eap_client.MD5)
    return md5, values


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_the_full_eap_md5_flow_connects_and_ends_in_eap_success(csms, run, station, protocol):
    identity_request, values = first_challenge(run, csms, protocol=protocol)
    assert values == [values[0], f'Basic realm="{REALM}"']  # EAP first, as the station's list says
    assert values[0].startswith(f'EAP realm="{REALM}", eap-p="')
    client = EapClient("CP1", KEY_HEX)
    md5, values = md5_round(run, csms, client, protocol)
    assert values[1] == f'Basic realm="{REALM}"'
    status, _, info = run(attempt(csms, "CP1", client.answer(md5), protocol))
    assert status == 101
    assert eap_client.unpack(base64.b64decode(info)) == (eap_client.SUCCESS, md5["id"], None, b"")
    station = Station.objects.get(identity="CP1")
    assert station.last_auth_method == "eap"
    assert station.ocpp_version == protocol


def test_an_unsolicited_identity_skips_the_identity_round(csms, run, station):
    client = EapClient("CP1", KEY_HEX.lower())  # the key's hex text in small letters works too
    md5, _ = md5_round(run, csms, client, unsolicited=True)
    assert run(attempt(csms, "CP1", client.answer(md5)))[0] == 101


def test_a_wrong_response_gets_eap_failure_and_the_round_is_spent(csms, run, station):
    client = EapClient("CP1", KEY_HEX)
    md5, _ = md5_round(run, csms, client)
    status, values, _ = run(attempt(csms, "CP1", client.answer(md5, password=b"00" * 20)))
    assert status == 401
    failure = eap_challenge(values)
    assert (failure["code"], failure["id"]) == (eap_client.FAILURE, md5["id"])
    assert values[1] == f'Basic realm="{REALM}"'
    # The right answer after that: the round is gone, the station starts again.
    status, values, _ = run(attempt(csms, "CP1", client.answer(md5)))
    assert status == 401 and eap_challenge(values)["type"] == eap_client.IDENTITY


def test_a_wrong_identifier_or_a_replayed_round_gets_the_challenges(csms, run, station):
    client = EapClient("CP1", KEY_HEX)
    md5, _ = md5_round(run, csms, client)
    status, values, _ = run(attempt(csms, "CP1", client.answer(md5, identifier=(md5["id"] + 1) % 256)))
    assert status == 401 and eap_challenge(values)["type"] == eap_client.IDENTITY
    md5, _ = md5_round(run, csms, client)
    good = client.answer(md5)
    assert run(attempt(csms, "CP1", good))[0] == 101
    status, values, _ = run(attempt(csms, "CP1", good))  # the same round once more
    assert status == 401 and eap_challenge(values)["type"] == eap_client.IDENTITY


def test_a_round_of_another_station_is_no_use(csms, run, tenant, station):
    make_station(tenant, "CP2", auth_methods=["eap", "basic"])
    cp2 = EapClient("CP2", KEY_HEX)
    md5, _ = md5_round(run, csms, cp2)
    # CP1 answers the round CP2 was given, with the key both happen to share.
    status, values, _ = run(attempt(csms, "CP1", EapClient("CP1", KEY_HEX).answer(md5)))
    assert status == 401 and eap_challenge(values)["type"] == eap_client.IDENTITY
    assert run(attempt(csms, "CP2", cp2.answer(md5)))[0] == 101  # CP2's own is still open


def test_an_expired_round_gets_the_challenges(own_server, run, station):
    server = own_server("eap-short-rounds", CSMS_EAP_ROUND_SECONDS="1")
    client = EapClient("CP1", KEY_HEX)
    md5, _ = md5_round(run, server, client)
    time.sleep(2.5)  # past the round's life (no assertion on time: the outcome is what counts)
    status, values, _ = run(attempt(server, "CP1", client.answer(md5)))
    assert status == 401 and eap_challenge(values)["type"] == eap_client.IDENTITY


def test_eap_is_opt_in_and_downgrade_protected(csms, run, tenant):
    make_station(tenant, "CP1")
    status, values, _ = run(attempt(csms, "CP1", None))
    assert values == [f'Basic realm="{REALM}"']  # not offered by default
    client = EapClient("CP1", KEY_HEX, realm=REALM)
    status, values, _ = run(attempt(csms, "CP1", client.identity_response()))
    assert status == 401 and values == [f'Basic realm="{REALM}"']  # no round is opened
    # A station not allowed EAP when its key was set holds no EAP secret.
    assert StationCredential.objects.get(station__identity="CP1").current_eap == ""


def test_eap_only_refuses_basic_and_the_secret_comes_with_the_next_key(csms, run, tenant):
    make_station(tenant, "CP1")
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "eap,basic")
    client = EapClient("CP1", KEY_HEX, realm=REALM)
    status, values, _ = run(attempt(csms, "CP1", client.identity_response()))
    assert status == 401 and eap_challenge(values)["code"] == eap_client.FAILURE  # no secret yet
    with pytest.raises(CommandError, match="no method they hold a credential for"):
        run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "eap")  # it would strand CP1
    run_cmd("station", "rekey", "acme", "CP1", "--key", KEY_HEX.decode())
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "eap")
    assert run(attempt(csms, "CP1", basic_auth("CP1", AL1000_KEY)))[0] == 401  # Basic is off now
    md5, _ = md5_round(run, csms, client)
    assert run(attempt(csms, "CP1", client.answer(md5)))[0] == 101


def test_both_keys_of_an_open_change_connect(csms, run, station):
    """The rotation workflow rotates the EAP secret: the new key (hex text in
    ChangeConfiguration) works at once, the old one while the change is open."""
    change = credentials.request_change(station, "demand", "test")
    new_hex = credentials.prepare_call(change.call_id, "ocpp1.6").payload["value"].encode()
    for password in (KEY_HEX, new_hex):
        client = EapClient("CP1", password)
        md5, _ = md5_round(run, csms, client)
        assert run(attempt(csms, "CP1", client.answer(md5)))[0] == 101


def test_malformed_eap_is_400(csms, run, station):
    for value in (f'EAP realm="{REALM}", eap-p="AgEACQFDUDE="', f'EAP realm="{REALM}", eap-p="??"', "EAP abc"):
        assert run(attempt(csms, "CP1", value))[0] == 400

"""Per-station method policy and the Token scheme on a live server, with a real client
(`websockets`): the 401's challenge list follows the station's inherited methods,
valid credentials of a method switched off are refused (downgrade protection), a
Token station connects and a revoked token does not, and every connection records
the method it proved."""
import asyncio
import json

import pytest
import websockets

from csms.models import Station
from tests.commands import run_cmd
from tests.csms.test_station_auth_live import status_of
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import basic_auth, station_url

pytestmark = pytest.mark.django_db(transaction=True)

BASIC = 'Basic realm="Chargegate acme"'
TOKEN = 'Token realm="Chargegate acme"'


def connect(server, identity, authorization=None):
    headers = {"Authorization": authorization} if authorization else {}
    return websockets.connect(station_url(server, "acme", identity), subprotocols=["ocpp1.6"],
                              additional_headers=headers, open_timeout=10, ping_interval=None)


def basic(identity="CP1", key=AL1000_KEY):
    return basic_auth(identity, key)


def issue(identity="CP1") -> str:
    return json.loads(run_cmd("station", "token", "issue", "acme", identity, "--json"))["token"]


def last_method(identity="CP1") -> str:
    return Station.objects.get(identity=identity).last_auth_method


def test_the_401_lists_the_stations_methods_in_order(csms, run):
    make_station(make_tenant("acme"), "CP1")
    issue()
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "token,basic")
    assert status_of(run, connect(csms, "CP1")) == (401, [TOKEN, BASIC])
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "basic,token")
    assert status_of(run, connect(csms, "CP1", "Token " + "z" * 30)) == (401, [BASIC, TOKEN])


def test_downgrade_valid_basic_is_refused_once_basic_is_off(csms, run):
    make_station(make_tenant("acme"), "CP1")
    assert status_of(run, connect(csms, "CP1", basic())) == (101, [])
    token = issue()
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "token")
    assert status_of(run, connect(csms, "CP1", basic())) == (401, [TOKEN])
    assert status_of(run, connect(csms, "CP1", "Token " + token)) == (101, [])


def test_a_token_station_connects_and_its_last_method_is_recorded(csms, run):
    make_station(make_tenant("acme"), "CP1")
    token = issue()
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "token,basic")
    assert status_of(run, connect(csms, "CP1", basic())) == (101, [])
    assert last_method() == "basic"
    assert status_of(run, connect(csms, "CP1", "token   " + token)) == (101, [])  # any casing, spaces
    assert last_method() == "token"


def test_a_revoked_token_is_refused_and_the_others_still_work(csms, run):
    make_station(make_tenant("acme"), "CP1")
    first, second = issue(), issue()
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "token")
    assert status_of(run, connect(csms, "CP1", "Token " + first)) == (101, [])
    run_cmd("station", "token", "revoke", "acme", "CP1", first.split("_")[1])
    assert status_of(run, connect(csms, "CP1", "Token " + first)) == (401, [TOKEN])
    assert status_of(run, connect(csms, "CP1", "Token " + second)) == (101, [])


def test_another_stations_token_is_refused(csms, run):
    tenant = make_tenant("acme")
    make_station(tenant, "CP1")
    make_station(tenant, "CP2")
    run_cmd("station", "auth", "default", "acme", "--methods", "token,basic", "--force")
    theirs = issue("CP2")
    assert status_of(run, connect(csms, "CP1", "Token " + theirs)) == (401, [TOKEN, BASIC])


@pytest.mark.parametrize("value", ["Token short", "Token " + "x" * 513, "Token a=b"])
def test_a_malformed_token_gets_400(csms, run, value):
    make_station(make_tenant("acme"), "CP1")
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "basic,token", "--force")
    assert status_of(run, connect(csms, "CP1", value)) == (400, [])


def test_inheritance_station_over_group_over_tenant_default(csms, run):
    tenant = make_tenant("acme")
    for identity, vendor in (("CP1", "ABB"), ("CP2", "Alfen"), ("CP3", "ABB")):
        make_station(tenant, identity, vendor=vendor, firmware_version="1.2")
        issue(identity)
    run_cmd("station", "auth", "default", "acme", "--methods", "basic,token")
    run_cmd("station", "group", "add", "acme", "abb", "--vendor", "abb", "--methods", "token")
    run_cmd("station", "auth", "set", "acme", "CP3", "--methods", "basic")
    seen = {identity: status_of(run, connect(csms, identity))[1] for identity in ("CP1", "CP2", "CP3")}
    assert seen == {"CP1": [TOKEN], "CP2": [BASIC, TOKEN], "CP3": [BASIC]}
    # The group's change reaches the live server (another process) at its next handshake.
    run_cmd("station", "group", "set", "acme", "abb", "--inherit")
    assert status_of(run, connect(csms, "CP1"))[1] == [BASIC, TOKEN]
    run_cmd("station", "group", "remove", "acme", "abb")
    run_cmd("station", "auth", "default", "acme", "--inherit")
    assert status_of(run, connect(csms, "CP1"))[1] == [BASIC]


def test_a_group_matches_on_what_the_station_booted_with(csms, run):
    """The firmware a station reports at boot moves it into the group for that firmware."""
    make_station(make_tenant("acme"), "CP1", vendor="ABB", firmware_version="1.0")
    issue()
    run_cmd("station", "group", "add", "acme", "abb-2", "--vendor", "ABB", "--firmware", "2.*",
            "--methods", "token")
    assert status_of(run, connect(csms, "CP1", basic())) == (101, [])
    Station.objects.filter(identity="CP1").update(firmware_version="2.1.0")
    assert status_of(run, connect(csms, "CP1", basic())) == (401, [TOKEN])


def test_a_group_admits_only_its_networks_as_a_trusted_proxy_reports_them(csms, run):
    """The client address is what uvicorn reports: behind a proxy it trusts
    (`--forwarded-allow-ips`, 127.0.0.1 by default, as for this loopback client) the
    X-Forwarded-For address. Outside the group's networks: 401 without challenges, even
    with the right key; inside: the usual check."""
    make_station(make_tenant("acme"), "CP1")
    run_cmd("station", "group", "add", "acme", "depot", "--identity", "CP*", "--networks", "10.20.0.0/16")

    def attempt(forwarded_for=None, key=AL1000_KEY):
        headers = {"Authorization": basic("CP1", key)}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        return status_of(run, websockets.connect(station_url(csms, "acme", "CP1"), subprotocols=["ocpp1.6"],
                                                 additional_headers=headers, open_timeout=10))

    assert attempt() == (401, [])                        # 127.0.0.1 itself
    assert attempt("192.0.2.7") == (401, [])
    assert attempt("10.20.5.6") == (101, [])
    assert attempt("10.20.5.6", key=bytes(20)) == (401, [BASIC])
    run_cmd("station", "group", "set", "acme", "depot", "--networks", "any")
    assert attempt() == (101, [])


def test_a_station_connects_with_another_login_and_not_with_another_stations(csms, run):
    """The white paper's privacy mapping: the Basic login need not be the identity."""
    tenant = make_tenant("acme")
    make_station(tenant, "CP1")
    make_station(tenant, "CP2")
    run_cmd("station", "login", "add", "acme", "CP1", "site-7f3a")
    run_cmd("station", "login", "add", "acme", "CP2", "site-0b11")
    assert status_of(run, connect(csms, "CP1", basic("site-7f3a"))) == (101, [])
    assert status_of(run, connect(csms, "CP1", basic("CP1"))) == (101, [])
    assert status_of(run, connect(csms, "CP1", basic("site-0b11"))) == (401, [BASIC])
    run_cmd("station", "login", "remove", "acme", "CP1", "site-7f3a")
    assert status_of(run, connect(csms, "CP1", basic("site-7f3a"))) == (401, [BASIC])


def test_a_group_saved_outside_the_commands_reaches_the_live_server(csms, run):
    """Any save or delete of a group moves the tenant's policy version (a signal), so a
    server process never keeps groups it cached: here the shell's way, not a command's."""
    from csms.models import StationGroup

    tenant = make_tenant("acme")
    make_station(tenant, "CP1")
    issue()
    run_cmd("station", "group", "add", "acme", "all", "--methods", "basic")
    assert status_of(run, connect(csms, "CP1"))[1] == [BASIC]   # the server caches the groups
    group = StationGroup.objects.get(name="all")
    group.methods = ["token", "basic"]
    group.save()
    assert status_of(run, connect(csms, "CP1"))[1] == [TOKEN, BASIC]
    group.delete()
    assert status_of(run, connect(csms, "CP1"))[1] == [BASIC]


def test_switching_basic_off_closes_the_open_basic_socket_and_a_revoked_token_its_own(csms, run):
    """Downgrade protection for a socket already open: it closes, and the station gets
    back in only with a method still allowed; revoking the token closes that one too."""
    from tests.csms.test_connections import closed_code
    from tests.waiting import async_eventually, in_thread_db

    make_station(make_tenant("acme"), "CP1")
    token = issue()
    connected = lambda: Station.objects.get(identity="CP1").connected  # noqa: E731

    async def scenario():
        ws = await connect(csms, "CP1", basic())
        await async_eventually(connected)
        await in_thread_db(run_cmd)("station", "auth", "set", "acme", "CP1", "--methods", "token")
        basic_closed = await closed_code(ws)
        ws = await connect(csms, "CP1", "Token " + token)
        await async_eventually(connected)
        await in_thread_db(run_cmd)("station", "token", "revoke", "acme", "CP1", token.split("_")[1])
        return basic_closed, await closed_code(ws)

    assert run(scenario()) == (4002, 4002)
    assert status_of(run, connect(csms, "CP1", "Token " + token)) == (401, [TOKEN])


def test_revoking_a_spare_token_leaves_the_connection_another_token_opened(csms, run):
    """The claim records which token the connection proved: only revoking that one
    closes it (code 4002)."""
    from tests.csms.test_connections import closed_code
    from tests.waiting import async_eventually, in_thread_db

    make_station(make_tenant("acme"), "CP1")
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "token", "--force")
    used, spare = issue(), issue()
    connected = lambda: Station.objects.get(identity="CP1").connected  # noqa: E731

    async def scenario():
        ws = await connect(csms, "CP1", "Token " + used)
        await async_eventually(connected)
        await in_thread_db(run_cmd)("station", "token", "revoke", "acme", "CP1", spare.split("_")[1])
        await asyncio.sleep(4)  # past the server's reconcile pass (3 s)
        await asyncio.wait_for(await ws.ping(), 5)
        await in_thread_db(run_cmd)("station", "token", "revoke", "acme", "CP1", used.split("_")[1])
        return await closed_code(ws)

    assert run(scenario()) == 4002

"""The handshake's User-Agent on a live server: recorded with the connection's claim
(bounded, printable only) and shown by `station show` and the REST station detail;
the next connection's replaces it, a refused handshake's does not."""
import json

import pytest
import websockets

from csms.models import Station
from tenants.models import Role
from tests.commands import run_cmd
from tests.csms.operator_api import api, person
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_user_agent_is_recorded_and_shown(csms, run):
    tenant = make_tenant("acme")
    make_station(tenant, "CP1", AL1000_KEY)

    async def scenario():
        ws = await open_socket(csms, "acme", "CP1", AL1000_KEY,
                               headers={"User-Agent": "Vendor-Fw/2.4.1 (ocpp1.6j; " + "x" * 400 + ")"})
        await ws.close()
        with pytest.raises(websockets.InvalidStatus):  # refused: records nothing
            await open_socket(csms, "acme", "CP1", bytes(20), headers={"User-Agent": "attacker/1"})

    run(scenario())
    kept = Station.objects.get(identity="CP1").last_user_agent
    assert kept.startswith("Vendor-Fw/2.4.1 (ocpp1.6j; xxx") and len(kept) == 200
    shown = json.loads(run_cmd("station", "show", "acme", "CP1", "--json"))
    assert shown["last_user_agent"] == kept
    assert f"last_user_agent      {kept}" in run_cmd("station", "show", "acme", "CP1")
    viewer = person(csms, "viewer", tenant, Role.VIEWER)
    assert viewer.get(api("acme", "stations/CP1/")).json()["last_user_agent"] == kept

    async def again():
        ws = await open_socket(csms, "acme", "CP1", AL1000_KEY, headers={"User-Agent": "Vendor-Fw/2.5.0"})
        await ws.close()

    run(again())
    assert Station.objects.get(identity="CP1").last_user_agent == "Vendor-Fw/2.5.0"

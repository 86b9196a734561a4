"""A station's connection history over REST (`stations/<identity>/connections/`) and the
CLI (`station connections`): a real connection on the live server, then its close and
frames as the station page shows them; the newest 20, frames for the newest two; another
tenant's people get 404; it is in the schema."""
import asyncio
import json

import pytest
from django.test import Client

from csms import connection_log
from csms.protocol import recent
from tenants.models import Role
from tests.commands import run_cmd
from tests.csms.operator_api import api, person
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import open_socket
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


def connections_of(client, identity="CP1"):
    response = client.get(api("acme", f"stations/{identity}/connections/"))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_real_connection_its_close_and_its_frames(csms, run):
    acme = make_tenant("acme")
    make_station(acme, "CP1", AL1000_KEY)

    async def talk():
        ws = await open_socket(csms, "acme", "CP1", AL1000_KEY, headers={"User-Agent": "Fw/2.1"})
        await ws.send('[2,"hb-1","Heartbeat",{}]')
        await asyncio.wait_for(ws.recv(), 10)
        await ws.close()

    run(talk())
    viewer = person(csms, "viewer", acme, Role.VIEWER)
    eventually(lambda: (rows := connections_of(viewer)) and rows[0]["closed_at"] and rows[0]["frames"])
    (only,) = connections_of(viewer)
    assert only["method"] == "basic" and only["source"] == "127.0.0.1" and only["user_agent"] == "Fw/2.1"
    assert only["close_code"] == 1000 and only["close_reason"].startswith("closed by the station")
    frames = [(f["direction"], f["type"], f["action"], f["message_id"]) for f in only["frames"]]
    assert frames[:2] == [("out", "CALLRESULT", "Heartbeat", "hb-1"), ("in", "CALL", "Heartbeat", "hb-1")]
    assert AL1000_KEY.hex() not in json.dumps(only).lower()
    # The CLI prints the same rows.
    printed = json.loads(run_cmd("station", "connections", "acme", "CP1", "--json"))
    assert [(c["seq"], c["method"], c["close_code"]) for c in printed] == [(only["seq"], "basic", 1000)]
    text = run_cmd("station", "connections", "acme", "CP1")
    assert f"#{only['seq']}\t" in text and "127.0.0.1" in text and "Heartbeat  hb-1" in text


def test_the_newest_20_and_the_frames_of_the_newest_two(csms):
    acme = make_tenant("acme")
    station = make_station(acme, "CP1", AL1000_KEY)
    for seq in range(1, 23):
        connection_log.opened(station.pk, acme.pk, seq, f"n.{seq}", method="basic", source=f"10.0.0.{seq}",
                              user_agent="")
        ring = recent.Ring()
        ring.record(recent.IN, recent.CALL, f"Act{seq}", "m", 20)
        connection_log.closed(station.pk, seq, 1000, "", ring.snapshot())
    rows = connections_of(person(csms, "viewer", acme, Role.VIEWER))
    assert [r["seq"] for r in rows] == list(range(22, 2, -1))
    assert [r["frames"][0]["action"] for r in rows[:2]] == ["Act22", "Act21"]
    assert all(r["frames"] is None and r["frames_at"] is None for r in rows[2:])  # still stored for 19, 20


def test_another_tenants_people_get_404(csms):
    acme, beta = make_tenant("acme"), make_tenant("beta")
    make_station(acme, "CP1", AL1000_KEY)
    make_station(beta, "CP1", AL1000_KEY)
    assert person(csms, "beta-admin", beta, Role.ADMIN).get(api("acme", "stations/CP1/connections/")).status_code == 404
    assert person(csms, "viewer", acme, Role.VIEWER).get(api("acme", "stations/NOPE/connections/")).status_code == 404
    assert Client().get(api("acme", "stations/CP1/connections/")).status_code == 401


def test_the_endpoint_is_in_the_openapi_schema(db):
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    path = schema["paths"]["/api/v1/tenants/{tenant}/stations/{identity}/connections/"]["get"]
    item = path["responses"]["200"]["content"]["application/json"]["schema"]
    assert item["type"] == "array"

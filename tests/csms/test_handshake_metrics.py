"""`GET /metrics` on a live server: handshakes counted by tenant, scheme and outcome,
connections per version, with bounded labels; served only with its bearer token."""
import urllib.error
import urllib.request

import pytest
import websockets
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from csms.handshake_metrics import presented_scheme
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import basic_auth, station_url

TOKEN = "metrics-token-for-the-test-0123456789"


def scrape(server, token=TOKEN):
    request = urllib.request.Request(f"{server.http}/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def samples(text, name):
    """{labels as a sorted tuple: value} of one metric family's samples named `name`."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def attempt(server, tenant, identity, headers, protocols=("ocpp1.6",)):
    try:
        ws = await websockets.connect(station_url(server, tenant, identity), subprotocols=list(protocols),
                                      additional_headers=headers, open_timeout=10, ping_interval=None)
    except websockets.InvalidStatus as exc:
        return exc.response.status_code, None
    return 101, ws


def test_handshakes_are_counted_by_tenant_scheme_and_outcome(own_server, run):
    tenant = make_tenant("acme")
    make_station(tenant, "CP001", AL1000_KEY)
    server = own_server("metrics", METRICS_TOKEN=TOKEN)

    async def scenario():
        ok, ws = await attempt(server, "acme", "CP001", {"Authorization": basic_auth("CP001", AL1000_KEY)})
        during = scrape(server)
        statuses = [ok]
        statuses.append((await attempt(server, "acme", "CP001", {"Authorization": basic_auth("CP001", b"w" * 20)}))[0])
        statuses.append((await attempt(server, "acme", "CP001", {"Authorization": "Basic !!!"}))[0])
        statuses.append((await attempt(server, "acme", "CP001", {"Authorization": "Negotiate abc"}))[0])
        statuses.append((await attempt(server, "acme", "CP001", {"Authorization": "Mine abc"}))[0])
        statuses.append((await attempt(server, "some-typed-slug", "CP9", {}))[0])
        await ws.close()
        return statuses, during

    statuses, during = run(scenario())
    assert statuses == [101, 401, 400, 401, 401, 404]
    connected = samples(during, "chargegate_station_connections")
    assert connected == {(("version", "ocpp1.6"),): 1.0}
    counts = samples(scrape(server), "chargegate_station_handshakes_total")
    assert counts == {
        (("method", "basic"), ("outcome", "accepted"), ("tenant", "acme")): 1.0,
        (("method", "basic"), ("outcome", "challenged"), ("tenant", "acme")): 1.0,
        (("method", "basic"), ("outcome", "malformed"), ("tenant", "acme")): 1.0,
        (("method", "negotiate"), ("outcome", "challenged"), ("tenant", "acme")): 1.0,
        # an unknown scheme's name and an unknown tenant's slug never become labels
        (("method", "other"), ("outcome", "challenged"), ("tenant", "acme")): 1.0,
        (("method", "none"), ("outcome", "unknown_station"), ("tenant", "-")): 1.0,
    }, counts
    timings = samples(scrape(server), "chargegate_station_handshake_seconds_count")
    assert timings[(("outcome", "accepted"),)] == 1.0
    # the station left: no connection is counted any more
    assert samples(scrape(server), "chargegate_station_connections") == {(("version", "ocpp1.6"),): 0.0}


def test_metrics_need_the_token(own_server):
    server = own_server("metrics-token", METRICS_TOKEN=TOKEN)
    for token in ("", "wrong-token"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(server, token)
        assert refused.value.code == 401
        assert refused.value.headers["WWW-Authenticate"] == 'Bearer realm="Chargegate metrics"'
    assert "chargegate_station_handshakes" in scrape(server)


@pytest.mark.django_db
@override_settings(METRICS_TOKEN="")
def test_without_a_token_set_metrics_are_off():
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 404 and b"METRICS_TOKEN" in response.content


@pytest.mark.parametrize("header, label", [
    ([], "none"), ([b"Basic abc"], "basic"), ([b"  TOKEN xyz"], "token"), ([b"digest x=1"], "digest"),
    ([b"Anything-At-All zzz"], "other"), ([b"\xff\xfe"], "other"),
])
def test_the_scheme_label_is_bounded(header, label):
    assert presented_scheme(header) == label

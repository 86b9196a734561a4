"""A station's recent OCPP messages and connection history on a live server, as an
operator reads them on the station's page: the frames it sent and the calls the CSMS
sent, which way, for which action, with what outcome, and never what they carried;
written from memory every few seconds and at the close, never per frame."""
import json

import pytest
from ocpp.v16 import call as call16

from csms.models import Station, StationConnection
from csms.protocol import recent
from csms.services import queue_call
from tenants.models import Role
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.portal.people import signed_in
from tests.stations import open_socket, raw_station, station
from tests.waiting import async_eventually, eventually, in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)

ID_TAG = "TAG-7f3a9c"  # a driver's token: it must reach no page and no stored frame
VENDOR_DATA = "distinctive-vendor-data-4411"


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def newest() -> StationConnection:
    return StationConnection.objects.order_by("-seq").first()


def frames_of(connection: StationConnection) -> list[tuple]:
    return [(f["direction"], f["type"], f["action"], f["outcome"]) for f in map(recent.named, connection.messages)]


def page_of(client, identity="CP1") -> str:
    response = client.get(f"/t/acme/stations/{identity}/")
    assert response.status_code == 200
    return response.content.decode()


def messages_part(page: str) -> str:
    return page[page.index('id="h-frames"'):page.index('id="h-audit"')]


def test_what_a_station_sent_and_what_it_was_sent_appear_after_the_flush_without_payloads(csms, run):
    acme, other = make_tenant("acme"), make_tenant("other")
    make_station(acme, "CP1", AL1000_KEY)
    make_station(other, "CP1", AL1000_KEY)
    viewer = signed_in("viewer", (acme, Role.VIEWER))

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY, headers={"User-Agent": "Vendor-Fw/3.1"}) as cp:
            await cp.call(call16.BootNotification(charge_point_vendor="VendorX", charge_point_model="M1"))
            await cp.call(call16.Heartbeat())
            await cp.call(call16.Authorize(id_tag=ID_TAG))
            await cp.call(call16.DataTransfer(vendor_id="VendorX", data=VENDOR_DATA))
            await in_thread_db(queue_call)(await in_thread_db(Station.objects.get)(tenant=acme), "Reset",
                                           {"type": "Soft"})
            await async_eventually(lambda: ("Reset",) == tuple(a for a, _ in cp.received))
            await async_eventually(lambda: ("in", "CALLRESULT", "Reset", "") in frames_of(newest()))
            page = await in_thread_db(page_of)(viewer)
            stored = await in_thread_db(lambda: json.dumps(newest().messages))()
        return page, stored

    page, stored = run(scenario())
    frames = messages_part(page)
    assert "as of <time" in frames and "frames newer than the time shown may be missing" in frames
    for action in ("BootNotification", "Heartbeat", "Authorize", "DataTransfer", "Reset"):
        assert f'<td class="wrap">{action}</td>' in frames
    assert frames.count("station → CSMS") >= 5 and frames.count("CSMS → station") >= 5
    assert frames.index("Reset") < frames.index("BootNotification")  # newest first
    assert ID_TAG not in page and VENDOR_DATA not in page
    assert ID_TAG not in stored and VENDOR_DATA not in stored and "VendorX" not in stored
    assert 'data-testid="user-agent">Vendor-Fw/3.1' in page

    connection = eventually(lambda: (c := newest()).closed_at and c)
    assert (connection.close_code, connection.close_reason) == (1000, "closed by the station")
    assert connection.user_agent == "Vendor-Fw/3.1" and connection.method == "basic"
    assert connection.source == "127.0.0.1"
    # The other tenant's station of the same identity shows none of it; its member gets 404.
    stranger = signed_in("stranger", (other, Role.VIEWER))
    assert "Authorize" not in messages_part(stranger.get("/t/other/stations/CP1/").content.decode())
    assert stranger.get("/t/acme/stations/CP1/").status_code == 404


def test_refusals_and_a_callerror_show_their_code_and_no_payload(csms, run):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    viewer = signed_in("viewer", (Station.objects.get().tenant, Role.VIEWER))

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            answer = await st.exchange([2, "bad-1", "Authorize", {"idTag": ID_TAG + "-far-too-long-for-20"}])
            assert answer[:3] == [4, "bad-1", "PropertyConstraintViolation"], answer
            answer = await st.exchange([2, "odd-1", "<b>Frobnicate</b>", {"x": VENDOR_DATA}])
            assert answer[2] == "NotImplemented", answer
            await st.send("[2, \"unreadable")
            await st.recv()
            await in_thread_db(queue_call)(await in_thread_db(Station.objects.get)(), "Reset", {"type": "Hard"})
            reset = await st.recv()
            await st.send([4, reset[1], "NotSupported", "no resets here", {}])
            await async_eventually(lambda: ("in", "CALLERROR", "Reset", "NotSupported") in frames_of(newest()))
            return await in_thread_db(page_of)(viewer)

    page = run(scenario())
    frames = frames_of(newest())
    assert ("in", "CALL", "Authorize", "rejected by schema (PropertyConstraintViolation)") in frames
    assert ("out", "CALLERROR", "Authorize", "PropertyConstraintViolation") in frames
    assert ("in", "CALL", "<b>Frobnicate</b>", "NotImplemented") in frames
    assert ("in", "unreadable", "", "FormationViolation") in frames
    assert ("out", "CALL", "Reset", "") in frames
    part = messages_part(page)
    assert "rejected by schema (PropertyConstraintViolation)" in part and "NotSupported" in part
    assert "&lt;b&gt;Frobnicate&lt;/b&gt;" in part and "<b>Frobnicate" not in page
    stored = json.dumps(newest().messages)
    # Its description is the station's call's (shown under the calls), not kept with the frame.
    assert ID_TAG not in stored and VENDOR_DATA not in stored and "no resets" not in stored
    assert ID_TAG not in page and VENDOR_DATA not in page and "no resets" not in part


def test_the_ring_keeps_the_last_50_frames_each_bounded(csms, run):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    long_id = "h" * 36

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            for i in range(30):
                answer = await st.exchange([2, f"hb-{i}", "Heartbeat", {}])
                assert answer[0] == 3
            await st.exchange([2, long_id, "Heartbeat", {}])
            await async_eventually(lambda: newest().messages and recent.named(newest().messages[-1])["message_id"] == long_id)

    run(scenario())
    messages = [recent.named(m) for m in newest().messages]
    assert len(messages) == recent.SIZE == 50
    ids = [m["message_id"] for m in messages]
    assert "hb-5" not in ids and "hb-6" in ids  # 62 frames: the oldest 12 fell out
    assert all(len(json.dumps(m).encode()) <= recent.ENTRY_BYTES for m in newest().messages)
    assert messages[-2]["bytes"] == len(json.dumps([2, long_id, "Heartbeat", {}]))  # what the station sent


def test_frames_are_written_with_the_close_and_not_per_frame(own_server, run):
    slow = own_server("slow-ring", CSMS_RECENT_FLUSH_SECONDS="3600")
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)

    async def scenario():
        async with raw_station(slow, "acme", "CP1", AL1000_KEY) as st:
            for i in range(5):
                await st.exchange([2, f"hb-{i}", "Heartbeat", {}])
            row = await in_thread_db(newest)()
            assert row.messages == [] and row.messages_at is None  # nothing written per frame
        await async_eventually(lambda: newest().closed_at is not None)

    run(scenario())
    assert [recent.named(m)["message_id"] for m in newest().messages] == [f"hb-{i // 2}" for i in range(10)]


def test_the_history_keeps_the_last_20_connections(csms, run):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    viewer = signed_in("viewer", (Station.objects.get().tenant, Role.VIEWER))

    async def scenario():
        for i in range(21):
            ws = await open_socket(csms, "acme", "CP1", AL1000_KEY, headers={"User-Agent": f"Fw/{i}.0"})
            await ws.close(4100 + i, "bye")
            await async_eventually(lambda n=i: StationConnection.objects.filter(
                user_agent=f"Fw/{n}.0", closed_at__isnull=False).exists())

    run(scenario())
    rows = list(StationConnection.objects.all())
    # Pruned at every fifth connection (connection_log.PRUNE_EVERY): at the 20th, nothing
    # yet; the page shows the newest 20.
    assert [r.user_agent for r in rows] == [f"Fw/{i}.0" for i in range(20, -1, -1)]
    assert (rows[0].close_code, rows[0].close_reason) == (4120, "closed by the station: bye")
    page = page_of(viewer)
    history = page[page.index('id="h-connections"'):page.index('id="h-connectors"')]
    assert history.count('data-testid="connection"') == 20
    assert "Fw/1.0<" in history and "Fw/0.0<" not in history and "4120 closed by the station: bye" in history

"""Every value a schema admits either works or gets the proper CALLERROR, never an
InternalError (issue 8, item 7): real frames of every action the CSMS serves, in both
versions, with extreme numbers, times and strings put into them.

In process through the consumer's own receive path (many frames, fast), then a smaller
run over a real WebSocket against the live server.
"""
import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms.consumers import StationConsumer
from csms.protocol.calls import CallBook
from csms.protocol.versions import OcppVersion
from tests.csms.frame_mutations import FRAMES, mutated_call
from tests.factories import AL1000_KEY, make_id_tag, make_station, make_tenant
from tests.stations import raw_station

pytestmark = pytest.mark.django_db(transaction=True)

PROTOCOLS = ["ocpp1.6", "ocpp2.0.1"]
FUZZ = settings(max_examples=250, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def station_row():
    tenant = make_tenant("acme")
    make_id_tag(tenant, "TAG1")
    return make_station(tenant, "CP1", AL1000_KEY)


def answer_in_process(station, protocol: str, text: str) -> list | None:
    """What the consumer answers one frame with, run in process on its real receive path."""
    consumer = StationConsumer()
    consumer.station_id, consumer.version = station.pk, OcppVersion(protocol)
    consumer.station_label, consumer.key_hash, consumer.connected_at = "acme/CP1", None, None
    consumer.book, consumer.tasks, consumer.closing = CallBook(), set(), False
    sent = []

    async def send(text_data=None, bytes_data=None, close=False):
        sent.append(json.loads(text_data))

    consumer.send = send

    async def scenario():
        consumer.pump_lock = asyncio.Lock()
        await consumer.receive(text_data=text)
        for task in list(consumer.tasks):  # the queued-work pump after a boot
            task.cancel()

    asyncio.run(scenario())
    return sent[0] if sent else None


def assert_handled(answer, frame):
    assert answer is not None, frame
    assert answer[0] in (3, 4), (frame, answer)
    if answer[0] == 4:
        assert answer[2] != "InternalError", (frame, answer)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_real_frames_are_accepted(station_row, protocol):
    for action, payload in FRAMES[protocol].items():
        frame = f'[2,"id","{action}",{json.dumps(payload)}]'
        answer = answer_in_process(station_row, protocol, frame)
        assert answer is not None and answer[0] == 3, (frame, answer)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_extreme_values_never_give_an_internal_error_in_process(station_row, protocol):
    @FUZZ
    @given(call=mutated_call(protocol))
    def check(call):
        action, payload = call
        frame = f'[2,"id","{action}",{payload}]'
        assert_handled(answer_in_process(station_row, protocol, frame), frame)

    check()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_extreme_values_never_give_an_internal_error_live(csms, run, station_row, protocol):
    @settings(max_examples=3, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(calls=st.lists(mutated_call(protocol), min_size=30, max_size=30))
    def check(calls):
        async def scenario():
            async with raw_station(csms, "acme", "CP1", AL1000_KEY, protocol=protocol) as st_:
                for n, (action, payload) in enumerate(calls):
                    frame = f'[2,"m{n}","{action}",{payload}]'
                    assert_handled(await st_.exchange(frame), frame)

        run(scenario())

    check()

"""What the ring of recent frames (csms/protocol/recent.py) costs, in process (issue 12).

    .venv/bin/python bench/recent_frames.py

Times what a connection adds to one Heartbeat round trip (two frames' sizes and two
entries: `StationConsumer._seen`), what a write takes on the event loop (a full ring's
`snapshot`), the stored size of a full ring, and the memory a full ring holds
(tracemalloc). bench/versus.py measures the server as a whole,
where on a shared machine these costs are below its noise. Prints numbers, asserts nothing.
"""
import sys
import timeit
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from csms.protocol import recent  # noqa: E402

MESSAGE_ID = "e140b439-a6e5-433f-9ee2-acb6ba669ebe"
CALL = f'[2,"{MESSAGE_ID}","Heartbeat",{{}}]'
ANSWER = f'[3,"{MESSAGE_ID}",{{"currentTime":"2026-12-03T10:50:45.079Z"}}]'


def round_trip(ring: recent.Ring) -> None:
    # As the consumer does it: `dirty` is looked at before each entry (`_seen`).
    _ = ring.dirty
    ring.record(recent.IN, recent.CALL, "Heartbeat", MESSAGE_ID, recent.size_of(CALL))
    _ = ring.dirty
    ring.record(recent.OUT, recent.CALLRESULT, "Heartbeat", MESSAGE_ID, recent.size_of(ANSWER))


def best(func, number: int) -> float:
    return min(timeit.repeat(func, number=number, repeat=5)) / number


def main() -> None:
    ring = recent.Ring()
    print(f"per Heartbeat round trip: {best(lambda: round_trip(ring), 200_000) * 1e6:.2f} µs")
    print(f"snapshot of a full ring (event loop): {best(ring.snapshot, 20_000) * 1e6:.1f} µs")
    print(f"a full ring stored: {len(ring.snapshot().encode())} bytes of JSON")
    tracemalloc.start()
    rings = [recent.Ring() for _ in range(1000)]
    for ring in rings:
        for n in range(recent.SIZE // 2):  # a fresh id per call, shared with its answer
            message_id = f"{n:08d}-a6e5-433f-9ee2-acb6ba669ebe"
            ring.record(recent.IN, recent.CALL, "Heartbeat", message_id, 56)
            ring.record(recent.OUT, recent.CALLRESULT, "Heartbeat", message_id, 82)
    print(f"memory of a full ring: {tracemalloc.get_traced_memory()[0] / len(rings) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()

"""Load benchmark for the OCPP-J endpoint: handshakes (argon2 Basic auth) and CALL round trips.

Usage:  .venv/bin/python bench/csms_load.py [--stations 200] [--messages 20] [--concurrency 50]

Starts its own uvicorn process against the configured database (embedded SQLite by
default; set DATABASE_URL / REDIS_URL for production backends), registers the stations
it needs in tenant `bench`, then prints numbers. It asserts nothing. The server runs
with AUTH_THROTTLE=off: all the stations connect from 127.0.0.1 (bench/drill_common.py
has the server start-up this shares with the issue-8 drills).
"""
import argparse
import asyncio
import base64
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
if not os.environ.get("DATABASE_URL"):
    # Keep benchmark stations out of the demo database.
    os.environ.setdefault("CHARGEGATE_VAR_DIR", str(REPO / "var" / "bench"))
sys.path.insert(0, str(REPO / "bench"))
from drill_common import free_port, pct, start_server  # noqa: E402  (shared with the drills)

KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233")


def prepare(n: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from csms.auth.keys import hash_key
    from csms.models import Station, StationCredential
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Benchmark"})
    have = set(Station.objects.for_tenant(tenant).values_list("identity", flat=True))
    digest = hash_key(KEY)  # salted once: stations need not differ for load purposes
    stations = Station.objects.bulk_create([
        Station(tenant=tenant, identity=f"B{i:05d}") for i in range(n) if f"B{i:05d}" not in have])
    StationCredential.objects.bulk_create([
        StationCredential(tenant=tenant, station=s, current_hash=digest, current_origin="installed")
        for s in stations])


def serve(port: int):
    # AUTH_THROTTLE=off: every benchmark station connects from 127.0.0.1, and the
    # throttle's per-address bookkeeping is not what this measures; nor is the frame
    # budget (csms/flood.py) for stations that send far faster than real ones.
    return start_server(port, args=["--lifespan", "off", "--log-level", "warning"],
                        env={"LOG_LEVEL": "WARNING", "AUTH_THROTTLE": "off", "CSMS_FRAMES_PER_SECOND": "0"})


async def run_station(port, identity, messages, sem, handshakes, rtts):
    import websockets

    auth = "Basic " + base64.b64encode(identity.encode() + b":" + KEY).decode()
    async with sem:
        t0 = time.perf_counter()
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/ocpp/bench/{identity}",
                                      subprotocols=["ocpp1.6"], open_timeout=60,
                                      additional_headers={"Authorization": auth})
        handshakes.append(time.perf_counter() - t0)
    async with ws:
        frames = ['[2,"boot","BootNotification",{"chargePointVendor":"Bench","chargePointModel":"L"}]']
        frames += [f'[2,"hb{i}","Heartbeat",{{}}]' for i in range(messages - 1)]
        for frame in frames:
            t0 = time.perf_counter()
            await ws.send(frame)
            await ws.recv()
            rtts.append(time.perf_counter() - t0)


async def load(port, n, messages, concurrency):
    sem = asyncio.Semaphore(concurrency)
    handshakes, rtts = [], []
    t0 = time.perf_counter()
    await asyncio.gather(*(run_station(port, f"B{i:05d}", messages, sem, handshakes, rtts)
                           for i in range(n)))
    return time.perf_counter() - t0, handshakes, rtts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes in flight at once")
    args = parser.parse_args()
    prepare(args.stations)
    port = free_port()
    server = serve(port)
    try:
        wall, handshakes, rtts = asyncio.run(load(port, args.stations, args.messages, args.concurrency))
    finally:
        server.terminate()
        server.wait(10)
    backend = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    layer = "redis" if os.environ.get("REDIS_URL") else "in-memory"
    print(f"machine      {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}, "
          f"db {backend}, channel layer {layer}, 1 uvicorn process")
    print(f"stations     {args.stations} (handshake concurrency {args.concurrency}), "
          f"{args.messages} CALLs each")
    print(f"handshakes   p50 {pct(handshakes, 50):.1f} ms  p95 {pct(handshakes, 95):.1f} ms  "
          f"max {max(handshakes) * 1000:.1f} ms")
    print(f"round trips  p50 {pct(rtts, 50):.2f} ms  p95 {pct(rtts, 95):.2f} ms  "
          f"mean {statistics.mean(rtts) * 1000:.2f} ms")
    print(f"throughput   {len(rtts) / wall:.0f} CALLs/s overall, {args.stations / wall:.1f} stations/s, "
          f"wall {wall:.2f} s")


if __name__ == "__main__":
    main()

"""Drill for issue 8, finding 1: one heavy frame froze the event loop.

Usage:  .venv/bin/python bench/drill_frames.py [--duration 10] [--attackers 2] [--payload both]

Victims: GET /oauth/demo/jwks (a new connection each time) and a connected station's
Heartbeat round trips. Attackers: stations sending MeterValues back to back, each
waiting for its answer before sending the next:

  invalid      the finding's frame: 957 KiB, 28,000 sampled values of the wrong type
               (now refused by the per-frame limits, csms/protocol/limits.py)
  within       the heaviest frame the limits still admit and validate: ~24,000 values
               (24 meter values of 500 valid sampled values each), schema-valid

Frames of 16 KiB and more are parsed and validated on csms/frame_work.py's threads.
"""
import argparse
import asyncio
import json

from drill_common import AL1000, HeartbeatVictim, Site, common_args, connect_station, header, http, run_drill

ATTACK_KEY = bytes(range(20))


def invalid_frame() -> str:
    sampled = [{"value": 5} for _ in range(28_000)]  # a number where 1.6 wants a string
    frame = json.dumps([2, "m", "MeterValues", {"connectorId": 1, "meterValue": [
        {"timestamp": "2024-05-01T10:00:00Z", "sampledValue": sampled}]}])
    return frame.ljust(957 * 1024)  # JSON allows trailing whitespace: the finding's 957 KiB


def within_limits_frame() -> str:
    readings = [{"timestamp": f"2024-05-01T10:{m:02d}:00Z",
                 "sampledValue": [{"value": f"{1000 + i}.5"} for i in range(500)]} for m in range(24)]
    return json.dumps([2, "m", "MeterValues", {"connectorId": 1, "meterValue": readings}])


async def flood(counts, port, identities, payload):
    frame = invalid_frame() if payload == "invalid" else within_limits_frame()

    async def one(identity):
        while True:
            try:
                ws = await connect_station(port, identity, ATTACK_KEY, source="127.0.0.2")
                async with ws:
                    while True:
                        await ws.send(frame)
                        answer = json.loads(await ws.recv())
                        counts[answer[2] if answer[0] == 4 else "CALLRESULT"] += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                counts[type(exc).__name__] += 1
                await asyncio.sleep(0.5)

    await asyncio.gather(*(one(identity) for identity in identities))


async def drill(site, identities, args):
    sizes = {"invalid": len(invalid_frame()), "within": len(within_limits_frame())}
    with site.serve() as server:
        for payload in args.payload:
            station = HeartbeatVictim(server.port, *AL1000)
            victims = {"GET /oauth/demo/jwks": lambda: http(server.port, "GET", "/oauth/demo/jwks"),
                       "Heartbeat (AL1000)": station}
            header(f"drill 1, frames: {args.attackers} stations sending '{payload}' MeterValues "
                   f"({sizes[payload] // 1024} KiB each) back to back", server)
            await station()  # connected before the baseline
            await run_drill(server, victims, flood, dict(port=server.port, identities=identities, payload=payload),
                            args.duration, after=args.duration / 2)
            await station.close()


def main():
    parser = common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), attackers=2)
    parser.add_argument("--payload", choices=["invalid", "within", "both"], default="both")
    args = parser.parse_args()
    args.payload = ["invalid", "within"] if args.payload == "both" else [args.payload]
    site = Site()
    identities = site.add_stations("FLOOD", args.attackers, ATTACK_KEY, protocols=("ocpp1.6",))
    asyncio.run(drill(site, identities, args))


if __name__ == "__main__":
    main()

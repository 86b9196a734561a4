"""Drill for issue 8, finding 2: one station's database work starved all others.

Usage:  .venv/bin/python bench/drill_reports.py [--duration 10] [--attackers 10] [--db-threads 8]

Victims: a connected 2.0.1 station's Heartbeat round trips (CS-201-001) and a new
station handshake (AL1000: connect, authenticate, close). Attackers: 2.0.1 stations
each sending NotifyReport parts as large as the per-frame limits admit (1,000 entries,
about 17,000 JSON values) back to back, waiting for each answer. Reports are stored as
one bulk upsert (csms/reports.py) on a pool of CSMS_DB_THREADS database threads
(csms/db.py); `--db-threads 1` shows the single-thread behaviour for comparison.
"""
import argparse
import asyncio
import json

from drill_common import (
    AL1000,
    HeartbeatVictim,
    Site,
    common_args,
    connect_station,
    handshake,
    header,
    run_drill,
)

ATTACK_KEY = bytes(range(20))
CS201 = ("CS-201-001", bytes.fromhex("22" * 20))


def notify_report(request_id: int, seq_no: int, entries: int = 1000) -> dict:
    data = []
    for i in range(entries):
        data.append({
            "component": {"name": f"Connector{i % 40}", "instance": f"i{i // 40}", "evse": {"id": 1}},
            "variable": {"name": "Setting"},
            "variableAttribute": [{"type": "Actual", "value": f"r{request_id}-{i}", "mutability": "ReadWrite"}],
            "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False},
        })
    return {"requestId": request_id, "generatedAt": "2025-06-02T08:00:00Z", "seqNo": seq_no,
            "tbc": True, "reportData": data}


async def reports(counts, port, identities):
    async def one(n, identity):
        frames = [json.dumps([2, f"r{seq}", "NotifyReport", notify_report(n, seq)]) for seq in range(2)]
        seq = 0
        while True:
            try:
                async with await connect_station(port, identity, ATTACK_KEY, "ocpp2.0.1",
                                                 source="127.0.0.2") as ws:
                    while True:
                        await ws.send(frames[seq % 2])
                        answer = json.loads(await ws.recv())
                        counts["CALLRESULT" if answer[0] == 3 else answer[2]] += 1
                        seq += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                counts[type(exc).__name__] += 1
                await asyncio.sleep(0.5)

    await asyncio.gather(*(one(n, identity) for n, identity in enumerate(identities)))


async def drill(site, identities, args):
    for threads in args.db_threads:
        env = {"CSMS_DB_THREADS": threads} if threads else {}
        with site.serve(**env) as server:
            station = HeartbeatVictim(server.port, *CS201, protocol="ocpp2.0.1")
            victims = {"Heartbeat (CS-201-001)": station,
                       "handshake (AL1000)": lambda: handshake(server.port, *AL1000)}
            header(f"drill 2, reports: {len(identities)} stations sending 1,000-entry NotifyReport "
                   f"parts back to back", server)
            await station()
            await run_drill(server, victims, reports, dict(port=server.port, identities=identities),
                            args.duration, after=args.duration / 2)
            await station.close()


def main():
    parser = common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), attackers=10)
    parser.add_argument("--db-threads", default="", help="CSMS_DB_THREADS values to run with, "
                        "comma-separated (default: the server's default)")
    args = parser.parse_args()
    args.db_threads = [t.strip() for t in args.db_threads.split(",")] if args.db_threads else [None]
    site = Site()
    identities = site.add_stations("REPORT", args.attackers, ATTACK_KEY, protocols=("ocpp2.0.1",))
    asyncio.run(drill(site, identities, args))


if __name__ == "__main__":
    main()

"""Drill for issue 8, finding 4: failed station handshakes saturated the server.

Usage:  .venv/bin/python bench/drill_handshakes.py [--duration 8] [--attackers 50] [--throttle on,off]
                                                   [--sources 1]

Victims (from 127.0.0.1): a legitimate station's handshake (AL1000: connect with its
key, close) and a connected station's Heartbeat round trips (CP-16-001). Attackers
(from 127.0.0.2, or `--sources` addresses in 127.1.0.0/16): `--attackers` handshakes in
flight at all times, each with a wrong 20-byte key, against AL1000 itself and 50 other
stations, so every guess costs an argon2 run unless it is refused first.

A handshake is throttled with 429 + Retry-After (lib/throttle.py, per identity and
address, per address, per identity with a lane) and refused with 503 when the hashing
gate is full (lib/hashing.py); AL1000 having connected from 127.0.0.1 before, the
guard on its name does not apply to it there.
"""
import argparse
import asyncio
import itertools
import os

from drill_common import (
    AL1000,
    HeartbeatVictim,
    Site,
    common_args,
    credential_args,
    handshake,
    header,
    run_drill,
)

CP16 = ("CP-16-001", bytes.fromhex("11" * 20))



async def guesses(counts, port, attackers, identities, sources):
    targets = itertools.cycle(identities)
    addresses = itertools.cycle(sources)

    async def one():
        while True:
            try:
                status = await handshake(port, next(targets), os.urandom(20), source=next(addresses))
                counts[str(status)] += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                counts[type(exc).__name__] += 1

    await asyncio.gather(*(one() for _ in range(attackers)))


async def drill(site, identities, args):
    for throttle in args.throttle:
        with site.serve(AUTH_THROTTLE=throttle) as server:
            station = HeartbeatVictim(server.port, *CP16)
            victims = {"handshake (AL1000)": lambda: handshake(server.port, *AL1000),
                       "Heartbeat (CP-16-001)": station}
            sources = args.sources
            header(f"drill 4, handshakes: {args.attackers} failing handshakes in flight against "
                   f"{len(identities)} stations from {len(sources)} address(es)", server)
            await station()
            await run_drill(server, victims, guesses,
                            dict(port=server.port, attackers=args.attackers, identities=identities, sources=sources),
                            args.duration, after=args.duration / 2)
            await station.close()


def main():
    parser = common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), duration=8, attackers=50)
    args = credential_args(parser)
    site = Site()
    identities = [AL1000[0], *site.add_stations("GUESS", 50, os.urandom(20), protocols=("ocpp1.6",))]
    asyncio.run(drill(site, identities, args))


if __name__ == "__main__":
    main()

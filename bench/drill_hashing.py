"""Drill for issue 8, finding 3: unauthenticated memory exhaustion through password hashing.

Usage:  .venv/bin/python bench/drill_hashing.py [--duration 8] [--attackers 96] [--throttle on,off]
                                                [--sources 1]

Victims (from 127.0.0.1): the demo OSDM client's token request (client_secret_basic,
an argon2id check of its secret), an operator's REST call with HTTP Basic (an argon2id
check of the password) and GET /oauth/demo/jwks (no hashing). Attackers (from
127.0.0.2, or `--sources` addresses in 127.1.0.0/16): `--attackers` clients in a loop,
half sending wrong passwords for REST Basic (known and unknown usernames), half wrong
client secrets for demo-osdm at the token endpoint.

Every hash runs on the hashing gate's AUTH_HASH_CONCURRENCY threads (lib/hashing.py;
503 when its queue is full or a check waits over 5 s); the throttle (lib/throttle.py)
answers 429 once an address or a name has failed too often. With `--throttle off` the
gate alone bounds the memory, which is also what an attacker with many addresses and
names meets.
"""
import argparse
import asyncio
import itertools

from drill_common import (
    DEMO_CLIENT,
    Site,
    basic,
    common_args,
    credential_args,
    header,
    http,
    run_drill,
    token_request,
)

OPERATOR = ("operator", "chargegate-demo")
STATIONS_API = "/api/v1/tenants/demo/stations/"



async def guesses(counts, port, attackers, sources):
    addresses = itertools.cycle(sources)
    guess = itertools.count()

    async def one(n):
        while True:
            i, source = next(guess), next(addresses)
            try:
                if n % 2:
                    user = ("admin", "operator", f"nobody{i}")[i % 3]
                    status = await http(port, "GET", STATIONS_API, {"Authorization": basic(user, f"guess-{i}")},
                                        source=source)
                    counts[f"REST {status}"] += 1
                else:
                    status = await token_request(port, DEMO_CLIENT[0], f"guess-{i}", source=source)
                    counts[f"token {status}"] += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                counts[type(exc).__name__] += 1

    await asyncio.gather(*(one(n) for n in range(attackers)))


async def drill(site, args):
    for throttle in args.throttle:
        with site.serve(AUTH_THROTTLE=throttle) as server:
            victims = {
                "token (demo-osdm)": lambda: token_request(server.port, *DEMO_CLIENT),
                "REST Basic (operator)": lambda: http(server.port, "GET", STATIONS_API,
                                                      {"Authorization": basic(*OPERATOR)}),
                "GET /oauth/demo/jwks": lambda: http(server.port, "GET", "/oauth/demo/jwks"),
            }
            sources = args.sources
            header(f"drill 3, hashing: {args.attackers} clients guessing passwords and client secrets "
                   f"from {len(sources)} address(es)", server)
            await run_drill(server, victims, guesses,
                            dict(port=server.port, attackers=args.attackers, sources=sources),
                            args.duration, after=args.duration / 2)


def main():
    parser = common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), duration=8, attackers=96)
    args = credential_args(parser)
    asyncio.run(drill(Site(), args))


if __name__ == "__main__":
    main()

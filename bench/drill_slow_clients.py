"""Drill for issue 8, finding 5: half-sent requests held sockets forever.

Usage:  .venv/bin/python bench/drill_slow_clients.py [--duration 10] [--attackers 1000] [--oversized 10]
                                                     [--max-connections 4096,500]

Victims (from 127.0.0.1, a new connection each time): GET /oauth/demo/jwks and a
legitimate station's handshake (AL1000). Attackers (from 127.0.0.2, raw sockets):

  slow        `--attackers` sockets, each sending an unfinished request head and then one
              byte a second; when the server closes it, the next one opens at once
  oversized   `--oversized` clients sending a 9 KiB request line or a 9 KiB header field,
              reading the answer, pausing 0.2 s, again

`python -m portal.serve` (portal/request_head.py) answers 408 when a head is not done
within WEB_HEADER_TIMEOUT_SECONDS (10 s), 414/431 to oversized heads, and 503 +
Retry-After to sockets beyond WEB_MAX_CONNECTIONS. The drill runs once per
`--max-connections` value: the default cap (4,096, above the attack) and one below the
attack, where the attacker holds every slot.
"""
import argparse
import asyncio
import contextlib

from drill_common import AL1000, ATTACKER_ADDRESS, Site, common_args, handshake, header, http, run_drill

PARTIAL = b"GET /oauth/demo/jwks HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"
OVERSIZED = [b"GET /" + b"a" * 9216 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
             b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 9216 + b"\r\n\r\n"]


def status_of(answer: bytes) -> str:
    if answer.startswith(b"HTTP/1.1 "):
        return answer.split(b" ", 2)[1].decode()
    return "closed without an answer" if not answer else "unreadable answer"


async def drip(writer):
    with contextlib.suppress(Exception):
        while True:
            await asyncio.sleep(1)
            writer.write(b"w")
            await writer.drain()


async def one_request(port, head: bytes, slow: bool) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER_ADDRESS, 0))
    trickle = asyncio.create_task(drip(writer)) if slow else None
    try:
        writer.write(head)
        return status_of(await reader.read())
    finally:
        if trickle:
            trickle.cancel()
        writer.close()


async def hold(counts, port, attackers, oversized):
    async def loop(name, head, slow, pause):
        while True:
            try:
                counts[f"{name} {await one_request(port, head, slow)}"] += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                counts[f"{name} {type(exc).__name__}"] += 1
            await asyncio.sleep(pause)

    await asyncio.gather(*(loop("slow", PARTIAL, True, 0) for _ in range(attackers)),
                         *(loop("oversized", OVERSIZED[i % 2], False, 0.2) for i in range(oversized)))


async def drill(site, args):
    for cap in args.max_connections:
        with site.serve(WEB_MAX_CONNECTIONS=cap) as server:
            victims = {"GET /oauth/demo/jwks": lambda: http(server.port, "GET", "/oauth/demo/jwks"),
                       "handshake (AL1000)": lambda: handshake(server.port, *AL1000)}
            header(f"drill 5, slow clients: {args.attackers} unfinished heads held open and "
                   f"{args.oversized} oversized ones", server)
            await run_drill(server, victims, hold,
                            dict(port=server.port, attackers=args.attackers, oversized=args.oversized),
                            args.duration, ramp=3, after=args.duration / 2)


def main():
    parser = common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), duration=10, attackers=1000)
    parser.add_argument("--oversized", type=int, default=10)
    parser.add_argument("--max-connections", default="4096,500",
                        help="WEB_MAX_CONNECTIONS values to run with, comma-separated")
    args = parser.parse_args()
    args.max_connections = [c.strip() for c in args.max_connections.split(",")]
    asyncio.run(drill(Site(), args))


if __name__ == "__main__":
    main()

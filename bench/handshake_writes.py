"""What the station writer (csms/group_commit.py) spends on the handshakes of a storm.

Usage:  .venv/bin/python bench/handshake_writes.py [--handshakes 2000] [--batch 50]
                [--database-url postgres://postgres@127.0.0.1:5432/chargegate_bench_writes]

No server and no sockets: the part of a Basic handshake that runs on the process's one
writer thread (`services.open_connection`: calls in flight ended, the key's proof, the
claim, the key checked again, queued work looked for), in batches of --batch as a
storm fills them, through the writer's own `_write`. It prints, per handshake, the CPU
of this process (`time.process_time`: the driver's work, which competes with the event
loop for the GIL in the server), the wall time, and the statements sent. Without
--database-url it uses a fresh SQLite file under var/; the PostgreSQL database must
exist (`createdb -h 127.0.0.1 -U postgres chargegate_bench_writes`); it is flushed.

To compare two trees (before / after a change), run it from a worktree of each, e.g.
`git worktree add /tmp/before <commit>` and `cd /tmp/before && /work/main/.venv/bin/python
bench/handshake_writes.py …`, alternating the two a few times (docs/performance.md).
"""
import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--stations", type=int, default=200, help="handshakes cycle over this many stations")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    os.chdir(REPO)
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    else:
        (REPO / "var").mkdir(exist_ok=True)
        path = REPO / "var" / "bench-writes.sqlite3"
        path.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from csms import group_commit, services
    from csms.models import Station
    from tests.factories import AL1000_KEY, make_station, make_tenant

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    tenant = make_tenant("acme")
    for i in range(args.stations):
        make_station(tenant, f"CP{i}", AL1000_KEY)
    proofs = list(Station.objects.filter(tenant=tenant).values_list("pk", "credential__current_hash"))
    loop = asyncio.new_event_loop()
    counter = iter(range(10**9))

    def batch(size: int) -> None:
        calls = []
        for _ in range(size):
            n = next(counter)
            pk, key_hash = proofs[n % len(proofs)]
            calls.append((pk, f"bench{n}".ljust(32, "x"), "ocpp1.6", key_hash, "basic"))
        futures = [loop.create_future() for _ in calls]
        group_commit._write([(services.open_connection, call, {"tenant_id": tenant.pk}, loop, future)
                             for call, future in zip(calls, futures, strict=True)])
        loop.run_until_complete(asyncio.sleep(0))  # the settling callbacks
        failed = [f.exception() for f in futures if f.exception() is not None]
        if failed:
            raise SystemExit(f"a handshake's writes failed: {failed[0]!r}")

    batch(args.batch)  # warm: compiled statements, the connection
    with CaptureQueriesContext(connection) as queries:
        batch(args.batch)
    statements = len(queries) / args.batch
    cpu, wall = time.process_time(), time.perf_counter()
    done = 0
    while done < args.handshakes:
        batch(args.batch)
        done += args.batch
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{connection.vendor}, batches of {args.batch}, {done} handshakes: "
          f"CPU {cpu / done * 1000:.3f} ms, wall {wall / done * 1000:.3f} ms, "
          f"{statements:.2f} statements per handshake")


if __name__ == "__main__":
    main()

"""What running one of the handshake's built-once statements costs, through Django's
cursor and on the driver's own (lib/plain_sql.py), in the same process.

    .venv/bin/python bench/statement_cost.py [--stations 10000] [--repeat 20000] [--postgres]

Provisions a tenant with --stations stations (bench/versus.py's), then times, alternately
and --repeat times each: the station read of every handshake (`services.find_station`'s
statement) and the claim's `UPDATE … RETURNING` (csms/claim.py), each run inside a
transaction that is rolled back per batch. Prints µs per statement (the least of five
rounds), and the whole `find_station` call for scale. It asserts nothing.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import versus  # noqa: E402


def per_call(funcs, repeat: int) -> list[float]:
    """µs per call of each of `funcs`, the least of five rounds; rounds alternate between
    them, so a machine that slows down (or a table that grows) weighs on all alike."""
    best = [float("inf")] * len(funcs)
    for _ in range(5):
        for k, func in enumerate(funcs):
            t0 = time.perf_counter()
            for i in range(repeat):
                func(i)
            best[k] = min(best[k], (time.perf_counter() - t0) / repeat)
    return [b * 1e6 for b in best]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=20000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chargegate-statements-"))
    try:
        os.environ["CHARGEGATE_VAR_DIR"] = str(workdir)
        if args.postgres:
            os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = versus.POSTGRES_URL, versus.REDIS_URL
            versus.fresh_postgres()
        versus.provision(args.stations)
        run(args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args):
    from django.db import connection, transaction
    from django.utils import timezone

    from csms import claim, services
    from csms.models import Station
    from lib import plain_sql

    n = args.stations
    identities = [versus.identity(i) for i in range(n)]
    services.find_station(versus.TENANT, identities[0])  # compiles it
    read = services._station_at._compiled[connection.alias]
    read_params = list(read.params)
    slot = read.slots["identity"][0]
    pks = [s.pk for s in [services.find_station(versus.TENANT, identities[i]) for i in range(min(n, 1000))]]
    update = claim._statement(connection.alias)
    now = timezone.now()
    values = {"connected": True, "connection_id": "c", "connection_node": "node", "ocpp_version": "ocpp1.6",
              "last_auth_method": "basic", "last_auth_credential": "", "last_user_agent": "ua",
              "connected_at": now, "last_seen_at": now}
    claim_params = [Station._meta.get_field(name).get_db_prep_save(values[name], connection)
                    for name in claim.CLAIMED]

    def read_with(cursor_of):
        def once(i):
            params = list(read_params)
            params[slot] = identities[i % n]
            with cursor_of() as cursor:
                cursor.execute(*cursor_args(cursor_of, read.sql, params))
                cursor.fetchall()
        return once

    def claim_with(cursor_of):
        def once(i):
            with cursor_of() as cursor:
                cursor.execute(*cursor_args(cursor_of, update, [*claim_params, pks[i % len(pks)]]))
                cursor.fetchone()
        return once

    def cursor_args(cursor_of, stmt, params):
        return (stmt.sql, params) if cursor_of is django_cursor else (stmt, params)

    def django_cursor():
        return connection.cursor()

    def plain_cursor():
        return plain_sql.cursor(connection)

    print(f"{connection.vendor} (statements logged: {connection.queries_logged}), {n:,} stations, {args.repeat:,} calls per round, least of 5 alternating rounds")
    with transaction.atomic():
        for label, make in (("station read", read_with), ("claim UPDATE", claim_with)):
            django, plain = per_call([make(django_cursor), make(plain_cursor)], args.repeat)
            print(f"  {label:<14} Django's cursor {django:6.1f} µs   driver's cursor {plain:6.1f} µs   "
                  f"saved {django - plain:5.1f} µs ({(django - plain) / django:.0%})")
        (whole,) = per_call([lambda i: services.find_station(versus.TENANT, identities[i % n])], args.repeat)
        print(f"  find_station, the whole call (rows built as model instances): {whole:.1f} µs")
        transaction.set_rollback(True)


if __name__ == "__main__":
    main()

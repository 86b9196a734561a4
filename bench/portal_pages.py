"""Server time of the portal's station list and dashboard with a large fleet.

Usage:  .venv/bin/python bench/portal_pages.py [--stations 100000] [--repeat 20]
        DATABASE_URL=postgres://postgres@127.0.0.1:5432/cg_bench .venv/bin/python bench/portal_pages.py

Seeds (once per database) a tenant `bench` with `--stations` stations written in bulk
as `station import` writes them, with a mix of connections, OCPP versions, methods, key
origins and key ages, then requests each page through Django's whole stack (test
client, signed-in operator: middleware, the role gate, the query, the template) and
prints the median and 95th percentile per page. No network: this is the server's time.
Embedded mode uses its own SQLite file (var/bench-portal.sqlite3), never the demo's.
"""
import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("CHARGEGATE_DB_NAME", str(Path(__file__).resolve().parent.parent
                                                    / "var" / "bench-portal.sqlite3"))

PAGES = [
    ("station list, page 1", "/t/bench/stations/"),
    ("station list, page 500", "/t/bench/stations/?page=500"),
    ("search 'CP-0123' (icontains)", "/t/bench/stations/?q=CP-0123"),
    ("filter connected, 2.0.1", "/t/bench/stations/?connected=true&ocpp_version=2.0.1"),
    ("filter on a series key", "/t/bench/stations/?onboarding=true"),
    ("ordered by key age", "/t/bench/stations/?ordering=key_since"),
    ("live table part (htmx)", "/t/bench/stations/?q=CP-01"),
    ("dashboard", "/t/bench/"),
    ("dashboard live part (htmx)", "/t/bench/"),
]
HTMX = {"live table part (htmx)": "station-results", "dashboard live part (htmx)": "dashboard-live"}


def seed(count: int):
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from csms import credentials
    from csms.models import AuditEvent, KeyOrigin, Station, StationCredential
    from tenants.models import Membership, Role, Tenant

    tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Bench fleet"})
    user, _ = get_user_model().objects.get_or_create(username="bench-operator")
    Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": Role.OPERATOR})
    have = Station.objects.for_tenant(tenant).count()
    if have >= count:
        return user
    rng, now = random.Random(12), timezone.now()
    key_hash = credentials.hash_for(bytes(range(20)), KeyOrigin.GENERATED)
    started = time.perf_counter()
    with transaction.atomic():
        for start in range(have, count, 2000):
            rows = []
            for n in range(start, min(count, start + 2000)):
                origin = rng.choice([KeyOrigin.GENERATED, KeyOrigin.ROTATION, KeyOrigin.MASTER, KeyOrigin.INSTALLED])
                connected = rng.random() < 0.3
                station, cred, event = credentials.registration_rows(
                    tenant, f"CP-{n:06d}", key_hash, origin, needs_unique_key=origin == KeyOrigin.MASTER,
                    now=now - timedelta(days=rng.randint(0, 700)), vendor=rng.choice(["Alfen", "ABB", "Kempower"]),
                    model="Model " + rng.choice("ABC"), connected=connected,
                    ocpp_version=rng.choice(["1.6", "2.0.1"]) if connected else "",
                    last_auth_method=rng.choice(["basic", "basic", "digest", "totp", ""]),
                    last_seen_at=now - timedelta(minutes=rng.randint(0, 10000)))
                rows.append((station, cred, event))
            stations, creds, events = zip(*rows, strict=True)
            Station.objects.bulk_create(stations, batch_size=1000)
            StationCredential.objects.bulk_create(creds, batch_size=1000)
            AuditEvent.objects.bulk_create(events, batch_size=1000)
    print(f"seeded {count - have} stations in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return user


def measure(client, url: str, repeat: int, target: str | None) -> list[float]:
    headers = {"HX-Request": "true", "HX-Target": target} if target else {}
    client.get(url, headers=headers)  # warm: compiled templates, the database's cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    import django
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    call_command("migrate", verbosity=0)
    client = Client()
    client.force_login(seed(args.stations))
    print(f"{connection.vendor}, {args.stations} stations, {args.repeat} requests per page")
    print(f"{'page':34} {'median ms':>10} {'p95 ms':>8}")
    # Each request computes the dashboard's figures, as its first watcher in a few seconds does;
    # the last row is everyone else watching within CSMS_DASHBOARD_CACHE_SECONDS.
    shared_seconds, settings.CSMS["DASHBOARD_CACHE_SECONDS"] = settings.CSMS["DASHBOARD_CACHE_SECONDS"], 0
    for name, url in PAGES:
        report(name, measure(client, url, args.repeat, HTMX.get(name)))
    settings.CSMS["DASHBOARD_CACHE_SECONDS"] = shared_seconds or 4
    report("dashboard live part, figures shared", measure(client, "/t/bench/", args.repeat, "dashboard-live"))


def report(name: str, times: list[float]):
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"{name:34} {statistics.median(times):10.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()

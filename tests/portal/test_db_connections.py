"""HTTP requests under ASGI run in threads of their own: each must give its database
connection back, or a busy server exhausts PostgreSQL's connection slots."""
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)
CONCURRENCY = 8
APP_NAME = f"chargegate-http-connections-{os.getpid()}"  # libpq takes it from PGAPPNAME


def server_connections(server) -> int:
    """Database connections the server process holds open right now."""
    if connection.vendor == "postgresql":
        # Only this server's: the worker's other live servers share the database.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND application_name = %s", [APP_NAME])
            return cursor.fetchone()[0]
    db_file = os.path.realpath(connection.settings_dict["NAME"])
    fd_dir = f"/proc/{server.proc.pid}/fd"
    return sum(1 for fd in os.listdir(fd_dir) if os.path.realpath(os.path.join(fd_dir, fd)) == db_file)


def load(server, n: int) -> int:
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        statuses = list(pool.map(lambda _: requests.get(f"{server.http}/oauth/conn/jwks", timeout=30).status_code,
                                 range(n)))
    assert statuses == [200] * n
    return server_connections(server)


@pytest.fixture
def http_only_server(csms, live_log_dir):
    """A server of its own with one station-work thread (csms/db.py), as before the pool:
    what is counted here is the HTTP requests' connections, not the shared server's pool
    warmed by other tests' stations."""
    from tests.live import LiveServer

    server = LiveServer(connection.settings_dict["NAME"], live_log_dir, name="http-connections",
                        extra_env={"CSMS_DB_THREADS": "1", "PGAPPNAME": APP_NAME}).start()
    yield server
    server.stop()


def test_open_connections_do_not_grow_with_the_number_of_requests(http_only_server):
    csms = http_only_server
    make_tenant("conn", is_emsp=True)
    # Without the fix every request thread leaves its connection open: 24+ after 40
    # requests, and more after each round. With it, at most about one per request in
    # flight (plus the consumers' database thread, and backends PostgreSQL is still
    # tearing down), however many requests came before.
    assert load(csms, 40) <= CONCURRENCY + 2
    assert load(csms, 80) <= CONCURRENCY + 2


def server_backends(server) -> set:
    """The server's PostgreSQL backends: (pid, start time) each."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE datname = current_database()"
                       " AND application_name = %s", [APP_NAME])
        return set(cursor.fetchall())


def token_load(server, n: int) -> None:
    """Token requests the AS refuses after reading the tenant (unsupported grant)."""
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        statuses = list(pool.map(lambda _: requests.post(f"{server.http}/oauth/conn/token",
                                                         data={"grant_type": "password"}, timeout=30).status_code,
                                 range(n)))
    assert statuses == [400] * n


@pytest.fixture
def machine_server(csms, live_log_dir):
    from tests.live import LiveServer

    server = LiveServer(connection.settings_dict["NAME"], live_log_dir, name="machine-connections",
                        extra_env={"CSMS_DB_THREADS": "1", "PGAPPNAME": APP_NAME,
                                   "WEB_MACHINE_THREADS": "2"}).start()
    yield server
    server.stop()


def test_machine_endpoints_keep_their_pools_connections_instead_of_one_per_request(machine_server):
    make_tenant("conn", is_emsp=True)
    token_load(machine_server, 40)
    assert 1 <= server_connections(machine_server) <= 2  # two pool threads, a connection each
    if connection.vendor == "postgresql":
        # ... and the very same backends afterwards: no connect (no backend fork) per request.
        # (Under Django's handler each request's connection is closed with its thread.)
        first = server_backends(machine_server)
        token_load(machine_server, 80)
        assert first <= server_backends(machine_server)
    assert 1 <= server_connections(machine_server) <= 2

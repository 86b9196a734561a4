import asyncio
import os
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.celery_worker import start_worker, stop_worker
from tests.live import LiveServer
from tests.tcp_proxy import PostgresProxy, RedisProxy


def pytest_configure(config):
    # Each xdist worker gets its own database (pytest-django); give it its own Redis
    # namespace for the channel layer too.
    # Assigned, not defaulted: workers inherit the controller's environment, and two
    # workers sharing a prefix would see each other's station groups (same pks).
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    prefix = f"chargegate-test-{worker}-{os.getpid()}"
    os.environ["CHANNEL_LAYER_PREFIX"] = prefix  # for the servers and workers we start
    os.environ["CELERY_QUEUE"] = prefix
    # This process read its settings already: give it the same namespace, so nudges it
    # sends reach the servers it started.
    from channels.layers import channel_layers
    from django.conf import settings

    if "CONFIG" in settings.CHANNEL_LAYERS["default"]:
        settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = prefix
        channel_layers.backends.clear()
    settings.CELERY_TASK_DEFAULT_QUEUE = prefix
    # Credential throttling keeps state across tests (the servers' cache outlives each
    # test's database) and every test client shares 127.0.0.1: off by default, on in the
    # servers the throttle tests start for themselves (tests/portal/test_auth_limits.py).
    os.environ["AUTH_THROTTLE"] = "off"
    settings.AUTH_THROTTLE["ENABLED"] = False
    # Tests look at the dashboard right after changing what it counts; the sharing of its
    # figures has its own test (tests/csms/test_posture.py).
    os.environ["CSMS_DASHBOARD_CACHE_SECONDS"] = "0"
    settings.CSMS["DASHBOARD_CACHE_SECONDS"] = 0
    _flush_postgres_by_delete()
    _retry_flush_on_deadlock()


def _flush_postgres_by_delete():
    """A transactional test ends with a flush of every table, which Django does on
    PostgreSQL with one TRUNCATE: new files for some fifty tables, synced to disk at the
    commit, 0.25 s on a quiet machine and seconds on a busy one, hundreds of times a run.
    The tables hold a test's few rows: DELETE them instead, in one transaction (the
    foreign keys are deferred, so the order does not matter), after locking every table
    as TRUNCATE would: a live server's write between two DELETEs (an audit event of a
    station about to go) would otherwise fail the flush at its commit. 0.05 s instead of
    0.25. Sequences are reset only where a test asks for it, with Django's own statements."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or not tables:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        names = [self.quote_name(table) for table in tables]
        return [f"LOCK TABLE {', '.join(names)} IN ACCESS EXCLUSIVE MODE;",
                *(f"DELETE FROM {name};" for name in names)]

    DatabaseOperations.sql_flush = sql_flush


def _retry_flush_on_deadlock():
    """A transactional test ends with a flush of every table (above), which takes their
    rows' locks table by table; a live server's writer batch touching several of them
    meanwhile can deadlock with it on PostgreSQL, which then cancels the flush. The
    servers' work ends at once: flush again."""
    from django.core.management.base import CommandError
    from django.db import OperationalError
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def deadlock(exc: BaseException | None) -> bool:
        # `flush` wraps the database's error in a CommandError: look down the chain.
        while exc is not None:
            if isinstance(exc, OperationalError) and "deadlock detected" in str(exc):
                return True
            exc = exc.__cause__ or exc.__context__
        return False

    def teardown(self):
        for attempt in range(5):
            try:
                return original(self)
            except (OperationalError, CommandError) as exc:
                if not deadlock(exc) or attempt == 4:
                    raise
                time.sleep(0.2)

    TransactionTestCase._fixture_teardown = teardown


@pytest.fixture(scope="session")
def live_log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("live-logs")


@pytest.fixture(scope="session")
def csms_server(django_db_setup, django_db_blocker, live_log_dir):
    """A uvicorn process serving Chargegate on loopback against the test database."""
    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    server = LiveServer(db_name, live_log_dir).start()
    yield server
    server.stop()
    # A log filter that breaks a formatter loses the line silently (a "Logging error" on
    # stderr): treat it as the failure it is.
    assert "--- Logging error ---" not in server.log(), f"a log record failed to format; see {server.log_path}"
    with django_db_blocker.unblock():
        wait_for_other_sessions_to_end()


def wait_for_other_sessions_to_end(timeout=10.0):
    """PostgreSQL ends a stopped server's backends a moment after it exits; dropping
    the test database before then fails."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture(scope="session")
def guarded_server(django_db_setup, django_db_blocker, live_log_dir):
    """A live server with credential throttling on (the shared one runs without it)."""
    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    server = LiveServer(db_name, live_log_dir, name="guarded", extra_env={
        "AUTH_THROTTLE": "on", "AUTH_THROTTLE_WINDOW_SECONDS": str(GUARDED_WINDOW)}).start()
    yield server
    server.stop()
    with django_db_blocker.unblock():
        wait_for_other_sessions_to_end()


# A throttle test counts up to a limit within one window. The longest (105 failed
# handshakes, an argon2 run each) took over 15 s on a loaded CI machine with every
# worker busy, and its limit arrived in the next window: room enough for the slowest,
# in a window long enough that waiting for the next one is rare (one test in ten).
GUARDED_WINDOW = 600
ROOM_IN_WINDOW = 60  # seconds a throttle test needs: its counts must not reset halfway


@pytest.fixture
def guarded(guarded_server, transactional_db):
    """The throttled server, at a moment with room left in its counting window (counts
    start afresh in each window, so a test counting to a limit across a window's end
    saw its limit arrive late)."""
    left = GUARDED_WINDOW - time.time() % GUARDED_WINDOW
    if left < ROOM_IN_WINDOW:
        time.sleep(left + 0.05)
    return guarded_server


@pytest.fixture
def tasks_run(csms, live_log_dir):
    """Where the live server's tasks run: in process on embedded defaults; with REDIS_URL
    they go through the broker, so a real Celery worker process takes them."""
    if not os.environ.get("REDIS_URL"):
        yield None
        return
    proc = start_worker(live_log_dir / "celery-worker.log")
    yield proc
    stop_worker(proc)


@pytest.fixture
def own_server(live_log_dir, django_db_blocker, transactional_db):
    """`own_server(name, **env)` starts a live server of the test's own, with these
    settings, on the test database; all stop when the test ends."""
    started = []

    def start(name: str, **env: str) -> LiveServer:
        with django_db_blocker.unblock():
            db_name = connection.settings_dict["NAME"]
        server = LiveServer(db_name, live_log_dir, name=name, extra_env=env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def csms(csms_server, transactional_db):
    """The live server, with the test's database writes visible to it."""
    return csms_server


@pytest.fixture
def redis_proxy():
    """A switchable proxy in front of the real Redis (`down()`, `up()`)."""
    proxy = RedisProxy(os.environ["REDIS_URL"]).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def postgres_proxy():
    """A switchable proxy in front of the real PostgreSQL (`down()`, `up()`)."""
    proxy = PostgresProxy(os.environ["DATABASE_URL"]).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def run():
    """Run an async scenario from a synchronous test (the ORM stays usable outside it)."""

    def runner(coro, timeout=60):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    return runner

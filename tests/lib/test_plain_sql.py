"""Statements run on the driver's cursor (lib/plain_sql.py) keep what Django's cursor
guarantees: the same rows, Django's exceptions, the broken-transaction and
async-context refusals, and statements still counted wherever someone counts them."""
import asyncio

import pytest
from django.core.exceptions import SynchronousOnlyOperation
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from csms.models import Station
from lib import plain_sql
from tests.factories import make_station, make_tenant

pytestmark = pytest.mark.django_db(transaction=False)


def _statement(sql: str) -> plain_sql.Statement:
    return plain_sql.statement(connection, sql)


def _by_identity():
    table, identity = connection.ops.quote_name(Station._meta.db_table), connection.ops.quote_name("identity")
    return _statement(f"SELECT {identity} FROM {table} WHERE {identity} = %s OR {identity} LIKE '100%%'")


def test_the_driver_runs_the_statement_and_gives_the_rows_djangos_cursor_gives():
    make_station(make_tenant("acme"), "CP1")
    make_station(make_tenant("other"), "100%", allowed_protocols=["ocpp1.6"])
    stmt = _by_identity()
    assert connection.queries_logged is False  # so the direct path is the one under test
    with plain_sql.cursor(connection) as cursor:
        assert cursor.direct
        cursor.execute(stmt, ["CP1"])
        direct = sorted(cursor.fetchall())
    with connection.cursor() as cursor:
        cursor.execute(stmt.sql, ["CP1"])
        through_django = sorted(cursor.fetchall())
    assert direct == through_django == [("100%",), ("CP1",)]


def test_a_counted_connection_sees_every_statement():
    """Under CaptureQueriesContext (assertNumQueries, DEBUG) Django's cursor runs them."""
    stmt = _by_identity()
    with CaptureQueriesContext(connection) as captured:
        with plain_sql.cursor(connection) as cursor:
            assert not cursor.direct
            cursor.execute(stmt, ["CP1"])
            cursor.fetchall()
    assert len(captured) == 1 and "LIKE '100%'" in captured[0]["sql"].replace("%%", "%")


def test_a_constraint_violation_is_djangos_integrity_error():
    tenant = make_tenant("acme")
    make_station(tenant, "CP1")
    quote = connection.ops.quote_name
    stmt = _statement(f"INSERT INTO {quote(Station._meta.db_table)} ({quote('tenant_id')}, {quote('identity')}) "
                      f"VALUES (%s, %s)")
    with pytest.raises(IntegrityError), transaction.atomic():
        with plain_sql.cursor(connection) as cursor:
            cursor.execute(stmt, [tenant.pk, "CP1"])


def test_a_statement_in_a_broken_atomic_block_is_refused():
    stmt = _by_identity()
    with transaction.atomic():
        connection.needs_rollback = True
        try:
            with pytest.raises(TransactionManagementError), plain_sql.cursor(connection) as cursor:
                cursor.execute(stmt, ["CP1"])
        finally:
            connection.needs_rollback = False


def test_the_event_loop_is_refused_a_cursor():
    async def from_the_loop():
        with plain_sql.cursor(connection):
            pass

    with pytest.raises(SynchronousOnlyOperation):
        asyncio.run(from_the_loop())


def test_a_connection_is_refused_to_another_thread():
    """As Django's cursor: a connection belongs to the thread that opened it."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

    mine = connections[DEFAULT_DB_ALIAS]  # this thread's connection itself, not the per-thread proxy
    mine.ensure_connection()

    def elsewhere():
        with plain_sql.cursor(mine):
            pass

    with ThreadPoolExecutor(1) as pool, pytest.raises(DatabaseError, match="thread"):
        pool.submit(elsewhere).result()

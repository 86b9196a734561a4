"""Statements built once per database, run on the driver's own cursor.

Why: the handshake's reads and writes (`lib.prepared`, csms/claim.py,
csms/connection_log.py) are compiled once, but each execution still went through
Django's cursor: a wrapper object, the execute-wrapper chain, and on SQLite a regular
expression turning every `%s` into `?` — about 30 µs a statement on the 2-vCPU benchmark
machine (a one-row SELECT: 40 µs through Django's cursor, 12 µs on the driver's; the
handshake's station read and claim: bench/statement_cost.py). Here a statement is
converted to the driver's style once (`Statement`), and `cursor` runs it
directly, keeping what Django's cursor guarantees: the async-context and thread-sharing
checks, the connection health check, Django's exception classes, the refusal inside a
broken atomic block, and the backend's own cursor set-up (PostgreSQL's time zone loader).

Where something watches statements (`connection.queries` under DEBUG or
`CaptureQueriesContext`, or an `execute_wrapper`), Django's cursor is used as before,
with the statement in Django's style: what tests and tools count stays counted.
"""
import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Statement:
    sql: str  # Django's "format" style: %s placeholders, %% for a literal %
    native: str  # the same for the driver


def statement(connection, sql: str) -> Statement:
    if connection.vendor == "sqlite":
        from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX

        return Statement(sql, FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%"))
    return Statement(sql, sql)  # psycopg takes Django's style as it is


class _Cursor:
    def __init__(self, connection):
        self.db = connection
        self.direct = not (connection.queries_logged or connection.execute_wrappers)
        if not self.direct:
            self.cursor = connection.cursor()
            return
        # What connection.cursor() does first: the health check (CONN_HEALTH_CHECKS), the
        # refusal in an event loop, and the one-thread-per-connection rule.
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        connection.validate_thread_sharing()
        with connection.wrap_database_errors:
            # SQLite's backend cursor is the one that rewrites placeholders per call.
            self.cursor = (connection.connection.cursor() if connection.vendor == "sqlite"
                           else connection.create_cursor())

    def _sql(self, stmt: Statement) -> str:
        self.db.validate_no_broken_transaction()
        return stmt.native if self.direct else stmt.sql

    def execute(self, stmt: Statement, params) -> None:
        sql = self._sql(stmt)
        with self.db.wrap_database_errors:
            self.cursor.execute(sql, params)

    def executemany(self, stmt: Statement, param_list) -> None:
        sql = self._sql(stmt)
        with self.db.wrap_database_errors:
            self.cursor.executemany(sql, param_list)

    def fetchone(self):
        with self.db.wrap_database_errors:
            return self.cursor.fetchone()

    def fetchall(self) -> list:
        with self.db.wrap_database_errors:
            return self.cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount

    @property
    def lastrowid(self):
        return self.cursor.lastrowid

    def close(self) -> None:
        with contextlib.suppress(Exception):  # as Django's cursor: closing never raises
            self.cursor.close()


@contextlib.contextmanager
def cursor(connection):
    """A cursor running `Statement`s on `connection` (see the module's docstring)."""
    handle = _Cursor(connection)
    try:
        yield handle
    finally:
        handle.close()

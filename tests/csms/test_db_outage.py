"""Telling a database outage from a failed query, and saying it once (csms/db_outage.py)."""
import logging
import sqlite3

import psycopg
import pytest
from django.db import InterfaceError, OperationalError
from psycopg import errors as pg

from csms import db_outage


def django_error(cause: BaseException, cls=OperationalError) -> BaseException:
    """What Django raises for a driver's error: its own class, the driver's as the cause."""
    try:
        try:
            raise cause
        except Exception as exc:
            raise cls(*exc.args) from exc
    except cls as wrapped:
        return wrapped


@pytest.fixture(autouse=True)
def reachable():
    db_outage.reachable()
    yield
    db_outage.reachable()


@pytest.mark.parametrize("cause", [
    psycopg.OperationalError("connection failed: Connection refused"),  # client-side: no SQLSTATE
    pg.AdminShutdown("terminating connection due to administrator command"),
    pg.CannotConnectNow("the database system is starting up"),
])
def test_a_connection_lost_or_refused_is_an_outage(cause):
    assert db_outage.is_outage(django_error(cause))
    assert db_outage.is_outage(InterfaceError("connection already closed"))


@pytest.mark.parametrize("cause", [
    pg.DeadlockDetected("deadlock detected"),
    pg.QueryCanceled("canceling statement due to statement timeout"),
    sqlite3.OperationalError("database is locked"),
])
def test_a_failed_query_is_not(cause):
    assert not db_outage.is_outage(django_error(cause))
    assert not db_outage.is_outage(ValueError("refused"))


def test_an_outage_is_said_once_and_its_end_once(caplog):
    log = logging.getLogger("csms.test")
    lost = django_error(psycopg.OperationalError('connection to server at "10.0.0.5", port 5432 failed'))
    with caplog.at_level(logging.DEBUG):
        for i in range(100):
            db_outage.failed(log, lost, "station CP%d: MeterValues", i)
        db_outage.failed(log, django_error(pg.DeadlockDetected("deadlock detected")), "a batch")
        db_outage.reachable()
        db_outage.reachable()
    records = [(r.name, r.levelname, r.getMessage(), bool(r.exc_info)) for r in caplog.records]
    assert records[0] == ("csms.db_outage", "WARNING",
                          'database unreachable (connection to server at "10.0.0.5", port 5432 failed): '
                          "station CP0: MeterValues failed; further failures are counted until it is back",
                          False)
    # Anything else keeps its traceback, outage or not (the log's redaction filter folds
    # it into the message).
    assert records[1][:2] == ("csms.test", "ERROR")
    assert records[1][2].startswith("a batch failed") and "DeadlockDetected" in records[1][2]
    assert records[2][:2] == ("csms.db_outage", "INFO")
    assert records[2][2].endswith("; 99 more failures meanwhile were not logged")
    assert len(records) == 3

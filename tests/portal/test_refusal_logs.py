"""A request the portal refuses (a CSRF failure, a permission denied, a body with too
many fields or too large) is logged as one WARNING line: no traceback, nothing of the
request's body; the client still gets its 403 or 400. A server error keeps its traceback."""
import logging
import sys

import pytest
from django.test import Client

from portal.logging import RefusalsInOneLine
from tenants.models import Role
from tests.factories import make_tenant
from tests.portal.people import PASSWORD, signed_in

pytestmark = pytest.mark.django_db
MARKER = "body-marker-7f3a"  # a value only the request's body holds


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture
def acme():
    return make_tenant("acme")


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django.request" or r.name.startswith("django.security")]


def assert_one_warning_line(caplog, logger: str, *words: str) -> None:
    found = refusals(caplog)
    assert [r.name for r in found] == [logger], [(r.name, r.getMessage()) for r in found]
    record = found[0]
    assert record.levelname == "WARNING" and record.exc_info is None and record.exc_text is None
    assert "Traceback" not in caplog.text and MARKER not in caplog.text
    message = record.getMessage()
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_a_csrf_failure_is_one_warning_line_and_a_403(acme, caplog):
    signed_in("alice", (acme, Role.ADMIN))
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="alice", password=PASSWORD)
    with caplog.at_level(logging.INFO):
        response = browser.post("/t/acme/people/add", {"username": MARKER, "role": "viewer"})
    assert response.status_code == 403
    assert_one_warning_line(caplog, "django.security.csrf", "CSRF", "/t/acme/people/add")


def test_a_permission_denied_is_one_warning_line_and_a_403(acme, caplog):
    viewer = signed_in("victor", (acme, Role.VIEWER))
    with caplog.at_level(logging.INFO):
        response = viewer.post("/t/acme/people/add", {"username": MARKER, "role": "viewer"})
    assert response.status_code == 403
    assert_one_warning_line(caplog, "django.request", "Forbidden", "/t/acme/people/add")


def test_too_many_fields_is_one_warning_line_and_a_400(acme, caplog):
    admin = signed_in("alice", (acme, Role.ADMIN))
    fields = {f"f{i}": MARKER for i in range(1001)}  # DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000
    with caplog.at_level(logging.INFO):
        response = admin.post("/t/acme/people/add", fields)
    assert response.status_code == 400
    assert_one_warning_line(caplog, "django.security.TooManyFieldsSent", "(400)", "/t/acme/people/add")


def test_a_body_too_large_is_one_warning_line_and_a_400(acme, caplog, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    admin = signed_in("alice", (acme, Role.ADMIN))
    with caplog.at_level(logging.INFO):
        response = admin.post("/t/acme/people/add", {"username": MARKER * 200, "role": "viewer"})
    assert response.status_code == 400
    assert_one_warning_line(caplog, "django.security.RequestDataTooBig", "(400)", "/t/acme/people/add")


def test_a_server_error_keeps_its_level_and_traceback():
    try:
        raise RuntimeError("ours")
    except RuntimeError:
        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s",
                                   ("/x",), sys.exc_info())
    record.status_code = 500
    assert RefusalsInOneLine().filter(record)
    assert record.levelname == "ERROR" and record.exc_info is not None

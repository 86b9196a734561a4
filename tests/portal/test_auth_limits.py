"""Issue 8, items 3 and 11: password guessing is throttled (portal login, /admin/login/,
REST Basic, OAuth client secrets — one mechanism), an attacker cannot lock a real user
out for good, and concurrent wrong guesses cannot exhaust the server's memory.

Against live servers with the throttle on (`guarded`); each test plays its own client
addresses (tests/sources.py), so the throttle's state of one test never meets another's.
"""
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth import get_user_model

from oauth.models import GrantType
from oauth.registration import ClientSpec, add_client
from tests.conftest import GUARDED_WINDOW
from tests.factories import make_tenant
from tests.sources import new_source, session_from

PASSWORD = "right-horse-battery-2026"
PAIR_LIMIT = 5  # settings.AUTH_THROTTLE["users"]["PAIR"]
SUBJECT_LIMIT = 20
WINDOW = 3  # seconds, for the test that waits for a lockout to end


def portal_login(server, username, password, source, path="/login/") -> requests.Response:
    http = session_from(source)
    page = http.get(server.http + path, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return http.post(server.http + path, data={"username": username, "password": password,
                                               "csrfmiddlewaretoken": token, "next": "/"},
                     allow_redirects=False, timeout=30)


def signed_in(response) -> bool:
    return response.status_code == 302


def rest_basic(server, username, password, source) -> requests.Response:
    return session_from(source).get(server.http + "/api/v1/tenants/acme/stations/", auth=(username, password),
                                    timeout=30)


@pytest.fixture
def user(db):
    """A user of their own per test: the guarded server's counters outlive each test."""
    make_tenant("acme")
    return get_user_model().objects.create_user(f"alice-{uuid.uuid4().hex[:8]}", password=PASSWORD, is_staff=True)


def test_wrong_portal_logins_are_throttled_with_429_and_retry_after(guarded, user):
    attacker = new_source()
    for _ in range(PAIR_LIMIT):
        assert portal_login(guarded, user.username, "wrong", attacker).status_code == 200  # the form again
    refused = portal_login(guarded, user.username, PASSWORD, attacker)
    assert refused.status_code == 429, refused.status_code
    assert 1 <= int(refused.headers["Retry-After"]) <= GUARDED_WINDOW
    # Another address is not affected: the real user still signs in.
    assert signed_in(portal_login(guarded, user.username, PASSWORD, new_source()))


def test_rest_basic_and_admin_login_share_the_throttle(guarded, user):
    attacker = new_source()
    for _ in range(PAIR_LIMIT - 1):
        assert rest_basic(guarded, user.username, "wrong", attacker).status_code in (401, 403)
    assert portal_login(guarded, user.username, "wrong", attacker, path="/admin/login/").status_code == 200
    for attempt in (lambda: rest_basic(guarded, user.username, PASSWORD, attacker),
                    lambda: portal_login(guarded, user.username, PASSWORD, attacker, path="/admin/login/"),
                    lambda: portal_login(guarded, user.username, PASSWORD, attacker)):
        response = attempt()
        assert response.status_code == 429 and "Retry-After" in response.headers


def test_an_unknown_username_is_throttled_like_a_known_one(guarded, user):
    attacker, nobody = new_source(), f"nobody-{uuid.uuid4().hex[:8]}"
    for _ in range(PAIR_LIMIT):
        assert rest_basic(guarded, nobody, "wrong", attacker).status_code in (401, 403)
    assert rest_basic(guarded, nobody, "wrong", attacker).status_code == 429


def test_a_distributed_attack_cannot_lock_the_real_user_out(guarded, user):
    home = new_source()
    assert signed_in(portal_login(guarded, user.username, PASSWORD, home))  # alice has signed in from here
    assert SUBJECT_LIMIT % (PAIR_LIMIT - 1) == 0
    for _ in range(SUBJECT_LIMIT // (PAIR_LIMIT - 1)):  # many addresses, each under its own limit
        attacker = new_source()
        for _ in range(PAIR_LIMIT - 1):
            portal_login(guarded, user.username, "wrong", attacker)
    # Now the name is guarded: new addresses share one attempt per lane (30 s), so of
    # three strangers at least the last is refused (the first may still fall under the
    # limit if the failures straddled a window boundary and partly aged out) ...
    strangers = [portal_login(guarded, user.username, "wrong", new_source()) for _ in range(3)]
    assert strangers[-1].status_code == 429 and "Retry-After" in strangers[-1].headers
    assert strangers[0].status_code == 200  # never refused outright: the lane let one in
    # ... but where she signed in before, she signs in at once.
    assert signed_in(portal_login(guarded, user.username, PASSWORD, home))


def test_a_lockout_ends_by_itself(own_server, user):
    server = own_server("short-window", AUTH_THROTTLE="on", AUTH_THROTTLE_WINDOW_SECONDS=str(WINDOW))
    attacker = new_source()
    time.sleep(WINDOW - time.time() % WINDOW + 0.05)  # the failures all fall in one window
    for _ in range(PAIR_LIMIT):
        portal_login(server, user.username, "wrong", attacker)
    assert portal_login(server, user.username, PASSWORD, attacker).status_code == 429
    time.sleep(WINDOW + 0.5)  # the refusal ends with its window
    assert signed_in(portal_login(server, user.username, PASSWORD, attacker))


def test_wrong_client_secrets_are_throttled(guarded, db):
    tenant = make_tenant("emsp", is_emsp=True)
    client, secret = add_client(tenant, ClientSpec(
        client_id="backend", name="", redirect_uris=[], grant_types=[GrantType.CLIENT_CREDENTIALS],
        scopes=["emsp:read"], auth_method="client_secret_basic"))
    attacker = session_from(new_source())

    def token(http, secret_):
        return http.post(guarded.http + "/oauth/emsp/token", data={"grant_type": "client_credentials"},
                         auth=("backend", secret_), timeout=30)

    for _ in range(10):
        assert token(attacker, "wrong").status_code == 401
    refused = token(attacker, secret)
    assert refused.status_code == 429 and refused.json()["error"] == "temporarily_unavailable"
    assert int(refused.headers["Retry-After"]) >= 1
    assert token(session_from(new_source()), secret).status_code == 200


# --- memory: the hashing gate ---------------------------------------------------------------

def peak_memory_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, in MiB."""
    status = open(f"/proc/{pid}/status").read()
    field = lambda name: int(re.search(rf"^{name}:\s+(\d+) kB", status, re.M).group(1)) / 1024  # noqa: E731
    return field("VmRSS"), field("VmHWM")


@pytest.fixture
def fresh_server(own_server):
    """A new process, so its peak memory is this test's alone (throttle off: the gate alone
    must bound the memory)."""
    return own_server("memory", AUTH_THROTTLE="off")


def concurrently(n: int, attempt) -> list:
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait()
        return attempt(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_concurrent_wrong_passwords_do_not_exhaust_memory(fresh_server, db):
    make_tenant("acme")
    requests.get(fresh_server.http + "/login/", timeout=10)  # warm up: imports, templates
    before, _ = peak_memory_mib(fresh_server.proc.pid)
    statuses = concurrently(16, lambda i: rest_basic(fresh_server, f"nobody-{i}", "wrong", "127.0.0.1").status_code)
    _, peak = peak_memory_mib(fresh_server.proc.pid)
    assert set(statuses) <= {401, 403, 503}, statuses
    # Unbounded, 16 runs of Django's default argon2 (100 MiB each) took 1.8 GiB.
    assert peak - before < 250, f"{before:.0f} MiB -> peak {peak:.0f} MiB"


def test_concurrent_wrong_client_secrets_do_not_exhaust_memory(fresh_server, db):
    tenant = make_tenant("emsp", is_emsp=True)
    add_client(tenant, ClientSpec(client_id="backend", name="", redirect_uris=[],
                                  grant_types=[GrantType.CLIENT_CREDENTIALS], scopes=["emsp:read"],
                                  auth_method="client_secret_basic"))
    requests.get(fresh_server.http + "/oauth/emsp/jwks", timeout=10)
    before, _ = peak_memory_mib(fresh_server.proc.pid)
    statuses = concurrently(32, lambda i: requests.post(
        fresh_server.http + "/oauth/emsp/token", data={"grant_type": "client_credentials"},
        auth=("backend", f"wrong-{i}"), timeout=30).status_code)
    _, peak = peak_memory_mib(fresh_server.proc.pid)
    assert set(statuses) <= {401, 503}, statuses
    # Unbounded: 32 concurrent bad secrets took 926 MiB.
    assert peak - before < 200, f"{before:.0f} MiB -> peak {peak:.0f} MiB"

"""The lean path for machine endpoints (portal/machine_http.py): the same answers as
Django's own handler gives, from a bounded pool that says 503 rather than queue
without end."""
import asyncio
import json
from urllib.parse import urlencode

import pytest
import requests
from django.test import Client as DjangoClient
from django.test import override_settings

from portal.machine_http import MachineEndpoints
from tests.factories import make_tenant
from tests.portal import machine_urls

# What may differ between the two handlers: the server's own headers.
TRANSPORT_HEADERS = {"date", "server", "content-length", "connection", "keep-alive"}


def comparable(headers) -> dict:
    return {k.lower(): v for k, v in headers.items() if k.lower() not in TRANSPORT_HEADERS}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method, path, data", [
    ("post", "/oauth/emsp/token", {"grant_type": "password"}),  # unsupported_grant_type, 400
    ("post", "/oauth/emsp/token", {"grant_type": "client_credentials"}),  # no client: 401
    ("get", "/oauth/emsp/token", None),  # 405 with Allow
    ("post", "/oauth/nobody/token", {"grant_type": "client_credentials"}),  # no AS here: 404
    ("post", "/oauth/emsp/introspect", {"token": "x" * 40}),
    ("post", "/oauth/emsp/par", {"client_id": "nobody"}),
])
def test_a_machine_endpoint_answers_as_djangos_handler_does(csms, method, path, data):
    make_tenant("emsp", is_emsp=True)
    live = getattr(requests, method)(f"{csms.http}{path}", data=data, timeout=30)
    with override_settings(PUBLIC_URL=csms.http):  # the issuer in realms, as the live server has it
        django = DjangoClient().get(path) if data is None else DjangoClient().post(
            path, urlencode(data), content_type="application/x-www-form-urlencoded")
    assert live.status_code == django.status_code
    assert live.json() == json.loads(django.content)
    assert comparable(live.headers) == comparable(django.headers)
    assert live.headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware ran


@pytest.mark.django_db(transaction=True)
def test_a_host_not_allowed_gets_400_on_a_machine_endpoint_too(csms):
    make_tenant("emsp", is_emsp=True)
    response = requests.post(f"{csms.http}/oauth/emsp/token", data={"grant_type": "client_credentials"},
                             headers={"Host": "attacker.example"}, timeout=30)
    assert response.status_code == 400


def http_scope(path, method="POST"):
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"text/plain")],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}


async def call(app, path, body=b"hello", *, disconnect=False):
    """One request through the ASGI app: (status, headers, body), or None if nothing was sent."""
    sent = []

    async def receive():
        if disconnect:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    await app(http_scope(path), receive, send)
    if not sent:
        return None
    start, body_message = sent
    return start["status"], dict(start["headers"]), body_message["body"]


async def not_django(scope, receive, send):
    raise AssertionError("a machine endpoint went to Django's handler")


@override_settings(ROOT_URLCONF="tests.portal.machine_urls", WEB_MACHINE_HTTP={"THREADS": 1, "MAX_WAITING": 1})
def test_a_full_pool_answers_503_with_retry_after_and_the_waiting_requests_are_served(caplog):
    app = MachineEndpoints(not_django)
    machine_urls.release.clear()

    async def scenario():
        first = asyncio.create_task(call(app, "/slow", b"first"))  # holds the one thread
        second = asyncio.create_task(call(app, "/slow", b"second"))  # waits: MAX_WAITING 1
        await asyncio.sleep(0.3)
        third = await asyncio.wait_for(call(app, "/slow", b"third"), 5)  # refused at once
        for _ in range(20):  # a flood of refusals
            await asyncio.wait_for(call(app, "/slow", b"more"), 5)
        machine_urls.release.set()
        return await first, await second, third

    first, second, third = asyncio.run(scenario())
    assert (first[0], json.loads(first[2])) == (200, {"body": "first"})
    assert (second[0], json.loads(second[2])) == (200, {"body": "second"})
    status, headers, body = third
    assert status == 503 and headers[b"retry-after"] == b"1"
    assert json.loads(body)["error"] == "temporarily_unavailable"
    # 21 refusals, one line: a flood is not also a logging flood
    assert [r.getMessage() for r in caplog.records if "busy" in r.getMessage()] == [
        "machine endpoint busy: /slow refused with 503"]


@override_settings(ROOT_URLCONF="tests.portal.machine_urls", DEBUG=False)
def test_a_failing_view_is_a_500_and_the_pool_keeps_serving(caplog):
    app = MachineEndpoints(not_django)
    machine_urls.release.set()
    status, _, _ = asyncio.run(call(app, "/broken"))
    assert status == 500
    assert "a bug in a view" in caplog.text  # logged by Django's django.request logger
    assert asyncio.run(call(app, "/slow", b"after"))[0] == 200


@override_settings(ROOT_URLCONF="tests.portal.machine_urls")
def test_a_client_gone_before_its_body_arrived_gets_nothing_and_takes_no_thread():
    app = MachineEndpoints(not_django)
    assert asyncio.run(call(app, "/slow", disconnect=True)) is None


@override_settings(ROOT_URLCONF="tests.portal.machine_urls")
def test_other_paths_go_to_djangos_handler():
    reached = []

    async def django(scope, receive, send):
        reached.append((scope["type"], scope.get("path")))

    app = MachineEndpoints(django)
    asyncio.run(app(http_scope("/elsewhere", "GET"), None, None))
    asyncio.run(app({"type": "lifespan"}, None, None))
    assert reached == [("http", "/elsewhere"), ("lifespan", None)]

"""Who may call the operator API: people by their role, clients of the tenant's own AS by
their operator scopes (a token from Authlib's client_credentials against the real token
endpoint), never a token issued on a person's behalf or another tenant's token."""
import httpx
import pytest

from tenants.models import Role
from tests.csms.operator_api import api, automation, person, problem
from tests.factories import AL1000_KEY, make_station, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(csms):
    tenant = make_tenant("acme")
    make_station(tenant, "CP1", AL1000_KEY)
    return tenant


def test_a_read_token_reads_and_may_not_act(csms, acme):
    robot = automation(csms, acme, ["operator:read"])
    listed = robot.get(api("acme", "stations/"))
    assert listed.status_code == 200, listed.text
    assert [s["identity"] for s in listed.json()["results"]] == ["CP1"]
    response = robot.post(api("acme", "stations/CP1/rotations/"), json={})
    assert "operator:write" in problem(response, 403)["detail"]
    assert_insufficient_scope(response, "acme", "operator:write")


def test_a_write_token_acts_and_is_named_in_the_audit_log(csms, acme):
    robot = automation(csms, acme, ["operator:write"])
    change = robot.post(api("acme", "stations/CP1/rotations/"), json={})
    assert change.status_code == 202, change.text
    assert change.json()["requested_by"] == "client:ops-robot"
    problem(robot.put(api("acme", "auth/default/"), json={"methods": ["basic"]}), 403)  # policy: admin
    audit = robot.get(api("acme", "audit/"), params={"actor": "client:ops-robot"}).json()["results"]
    assert [e["action"] for e in audit] == ["credential.change_requested"]


def test_an_admin_token_sets_policy(csms, acme):
    robot = automation(csms, acme, ["operator:admin"])
    response = robot.put(api("acme", "auth/default/"), json={"methods": ["basic", "digest"]})
    assert response.status_code == 200, response.text
    assert response.json() == {"methods": ["basic", "digest"], "inherited": False}


def test_a_token_without_operator_scopes_is_refused(csms, acme):
    robot = automation(csms, acme, ["emsp:read"])
    response = robot.get(api("acme", "stations/"))
    assert "operator:read" in problem(response, 403)["detail"]
    assert_insufficient_scope(response, "acme", "operator:read")


def assert_insufficient_scope(response, slug, scope):
    """RFC 6750 §3.1: the token was good, its scope was not; the challenge names the one
    it needs, with the realm of the tenant's authorization server."""
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="') and f"/oauth/{slug}" in challenge, challenge
    assert challenge.endswith(f', error="insufficient_scope", scope="{scope}"'), challenge


def test_a_token_is_worthless_at_another_tenant(csms, acme):
    other = make_tenant("other")
    make_station(other, "OTHER-1", AL1000_KEY)
    robot = automation(csms, acme, ["operator:admin"])
    response = robot.get(api("other", "stations/"))
    problem(response, 401)
    # RFC 6750 §3.1: the scheme it used answers, naming where a token for `other` comes from
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="') and "/oauth/other" in challenge, challenge
    assert challenge.endswith(', error="invalid_token"'), challenge
    assert robot.get(api("other", "stations/OTHER-1/")).status_code == 401


def test_a_401_offers_every_scheme_and_a_failed_one_answers_with_its_own(csms, acme):
    bare = httpx.Client(base_url=csms.http, timeout=30)
    missing = bare.get(api("acme", "stations/"))
    problem(missing, 401)
    offered = missing.headers["WWW-Authenticate"]
    assert offered.startswith('Basic realm="api", Bearer realm="') and "/oauth/acme" in offered, offered
    assert "error=" not in offered
    wrong = bare.get(api("acme", "stations/"), auth=("nobody", "not-the-password"))
    problem(wrong, 401)
    assert wrong.headers["WWW-Authenticate"] == 'Basic realm="api"'
    empty = bare.get(api("acme", "stations/"), headers={"Authorization": "Bearer"})
    assert problem(empty, 401) and empty.headers["WWW-Authenticate"].endswith(', error="invalid_token"')


def test_people_have_their_roles_and_others_see_nothing(csms, acme):
    viewer = person(csms, "viewer", acme, Role.VIEWER)
    operator = person(csms, "operator", acme, Role.OPERATOR)
    stranger = person(csms, "stranger")
    assert viewer.get(api("acme", "stations/")).status_code == 200
    assert "operator" in problem(viewer.delete(api("acme", "stations/CP1/")), 403)["detail"]
    assert "admin" in problem(operator.put(api("acme", "auth/default/"), json={"methods": None}), 403)["detail"]
    problem(stranger.get(api("acme", "stations/")), 404)
    problem(httpx_anonymous(csms).get(api("acme", "stations/")), 401)


def httpx_anonymous(server):
    import httpx

    return httpx.Client(base_url=server.http, timeout=30)


def test_the_schema_declares_the_bearer_scheme_for_the_operator_api(csms, acme):
    viewer = person(csms, "viewer", acme)
    schema = viewer.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()
    assert schema["components"]["securitySchemes"]["tenantBearer"]["scheme"] == "bearer"
    security = schema["paths"]["/api/v1/tenants/{tenant}/campaigns/"]["get"]["security"]
    assert {"tenantBearer": []} in security and {"basicAuth": []} in security


def test_a_portal_session_calls_the_api_with_its_role_and_csrf_token(acme, settings):
    """The portal's own session reaches the API (the docs page's "Try it out" uses it),
    with the person's role; a write needs Django's CSRF token like any form."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tenants.models import Membership

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    browser = {}
    for name, role in (("viewer", Role.VIEWER), ("operator", Role.OPERATOR)):
        user = get_user_model().objects.create_user(name, password="pw-session-api-1")
        Membership.objects.create(user=user, tenant=acme, role=role)
        browser[name] = Client(enforce_csrf_checks=True)
        browser[name].force_login(user)
    listed = browser["viewer"].get(api("acme", "stations/"))
    assert listed.status_code == 200 and [s["identity"] for s in listed.json()["results"]] == ["CP1"]
    assert browser["viewer"].post(api("acme", "stations/CP1/rotations/"), {}, "application/json").status_code == 403
    operator = browser["operator"]
    assert "CSRF" in operator.post(api("acme", "stations/CP1/rotations/"), {}, "application/json").json()["detail"]
    token = "k" * 32  # a CSRF secret's shape, as the portal's pages set it in the cookie
    operator.cookies["csrftoken"] = token
    rotated = operator.post(api("acme", "stations/CP1/rotations/"), {}, "application/json", HTTP_X_CSRFTOKEN=token)
    assert rotated.status_code == 202 and rotated.json()["requested_by"] == "operator"

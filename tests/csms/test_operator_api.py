"""The operator REST API on the live server, as people of each role use it over HTTP
Basic (httpx): stations paged and filtered, registered, changed, imported and removed;
key changes, campaigns, onboarding, authentication policy and the audit log — and for
every endpoint, another tenant's objects are 404."""
import csv
import io

import pytest

from csms.models import AuditEvent, CampaignMember, RotationCampaign, Station, StationGroup
from tenants.models import Role
from tests.csms.operator_api import api, person, problem
from tests.factories import AL1000_KEY, make_station, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def acme(csms):
    tenant = make_tenant("acme")
    for n in range(5):
        make_station(tenant, f"CP{n}", AL1000_KEY, vendor="VendorX" if n % 2 else "VendorY")
    return tenant


@pytest.fixture
def viewer(csms, acme):
    return person(csms, "viewer", acme, Role.VIEWER)


@pytest.fixture
def operator(csms, acme):
    return person(csms, "operator", acme, Role.OPERATOR)


@pytest.fixture
def admin(csms, acme):
    return person(csms, "admin", acme, Role.ADMIN)


# --- stations ----------------------------------------------------------------------------

def test_stations_come_a_page_at_a_time_with_a_count(viewer):
    first = viewer.get(api("acme", "stations/"), params={"page_size": 2}).json()
    assert first["count"] == 5 and first["previous"] is None
    assert [s["identity"] for s in first["results"]] == ["CP0", "CP1"]
    seen = [s["identity"] for s in first["results"]]
    url = first["next"]
    while url:
        page = viewer.get(url).json()
        seen += [s["identity"] for s in page["results"]]
        url = page["next"]
    assert seen == ["CP0", "CP1", "CP2", "CP3", "CP4"]
    problem(viewer.get(api("acme", "stations/"), params={"page_size": 201}), 400)
    problem(viewer.get(api("acme", "stations/"), params={"page": 9}), 404)


def test_stations_are_searched_filtered_and_ordered_as_in_the_portal(viewer):
    found = viewer.get(api("acme", "stations/"), params={"vendor": "vendorx", "ordering": "-identity"}).json()
    assert [s["identity"] for s in found["results"]] == ["CP3", "CP1"] and found["count"] == 2
    assert viewer.get(api("acme", "stations/"), params={"q": "cp4"}).json()["count"] == 1
    bad = problem(viewer.get(api("acme", "stations/"), params={"connected": "perhaps"}), 400)
    assert "connected" in bad["errors"]
    problem(viewer.get(api("acme", "stations/"), params={"q": "x" * 101}), 400)


def test_register_with_a_generated_key_shown_once_then_change_and_remove(operator, viewer):
    created = operator.post(api("acme", "stations/"), json={"identity": "NEW-1", "generate_key": True,
                                                            "allowed_protocols": ["ocpp1.6"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert len(body["key"]) == 40 and body["credential"]["current_key_origin"] == "generated"
    shown = viewer.get(api("acme", "stations/NEW-1/")).json()
    assert "key" not in shown and body["key"] not in str(shown)
    problem(operator.post(api("acme", "stations/"), json={"identity": "NEW-1", "key": KEY}), 409)
    bad = problem(operator.post(api("acme", "stations/"), json={"identity": "a:b", "key": "12"}), 400)
    assert "identity" in bad["errors"] and KEY not in str(bad)
    problem(operator.post(api("acme", "stations/"), json={"identity": "X", "key": KEY, "generate_key": True}), 400)
    # The model's identity rule, per protocol: 2.0.1's identifierString has 48 characters and
    # no spaces, which 1.6 allows.
    long_id = "L" * 49
    too_long = problem(operator.post(api("acme", "stations/"), json={"identity": long_id, "generate_key": True}), 400)
    assert "identity" in too_long["errors"]
    spaced = operator.post(api("acme", "stations/"), json={"identity": "RDAM 123", "generate_key": True,
                                                           "allowed_protocols": ["ocpp1.6"]})
    assert spaced.status_code == 201, spaced.text
    refused = problem(operator.patch(api("acme", "stations/RDAM%20123/"), json={"allowed_protocols": ["ocpp2.0.1"]}), 400)
    assert "allowed_protocols" in refused["errors"]

    changed = operator.patch(api("acme", "stations/NEW-1/"), json={"registration_setting": "Pending",
                                                                   "allowed_protocols": ["ocpp2.0.1"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["registration_setting"], changed.json()["allowed_protocols"]) == ("Pending", ["ocpp2.0.1"])
    problem(operator.patch(api("acme", "stations/NEW-1/"), json={"allowed_protocols": ["ocpp9"]}), 400)

    assert operator.delete(api("acme", "stations/NEW-1/")).status_code == 204
    problem(viewer.get(api("acme", "stations/NEW-1/")), 404)
    removed = AuditEvent.objects.get(action="station.removed")
    assert (removed.actor, removed.detail) == ("operator", {"identity": "NEW-1"})


def test_a_master_key_station_is_onboarded(operator):
    created = operator.post(api("acme", "stations/"), json={"identity": "SERIES-1", "master_key": KEY}).json()
    assert created["registration_status"] == "Pending" and created["credential"]["needs_unique_key"] is True
    assert "key" not in created


def test_an_import_is_checked_whole_and_written_at_once(operator, viewer):
    bad = f"identity,key\nIMP-1,{KEY}\nCP0,{KEY}\nIMP-3,abc\n"
    refused = problem(operator.post(api("acme", "station-imports/"), json={"csv": bad}), 400)
    assert any("CP0 already exists" in e for e in refused["errors"]["rows"])
    assert any(e.startswith("line 4: key:") for e in refused["errors"]["rows"])
    assert KEY not in str(refused) and not Station.objects.filter(identity="IMP-1").exists()

    good = f"identity,protocols,key\nIMP-1,ocpp1.6,{KEY}\nIMP-2,,\n"
    upload = {"file": ("fleet.csv", good.encode(), "text/csv")}
    done = operator.post(api("acme", "station-imports/"), files=upload, data={"master_key": KEY[:-2] + "ff"})
    assert done.status_code == 201, done.text
    assert done.json() == {"imported": 2, "with_key": 1, "onboarding": 1, "skipped": 0}
    assert viewer.get(api("acme", "stations/IMP-2/")).json()["registration_status"] == "Pending"
    problem(operator.post(api("acme", "station-imports/"), files={"file": ("x.csv", b"identity\n\xff\n", "text/csv")}),
            400)
    problem(viewer.post(api("acme", "station-imports/"), json={"csv": good}), 403)


# --- key changes and campaigns -------------------------------------------------------------

def test_key_changes_of_the_whole_tenant_with_filters(operator, viewer):
    for identity in ("CP1", "CP2"):
        assert operator.post(api("acme", f"stations/{identity}/rotations/"), json={}).status_code == 202
    listed = viewer.get(api("acme", "rotations/")).json()["results"]
    assert [c["station"] for c in listed] == ["CP2", "CP1"] and listed[0]["state"] == "queued"
    assert [c["station"] for c in viewer.get(api("acme", "rotations/"), params={"station": "CP1"}).json()["results"]] \
        == ["CP1"]
    assert viewer.get(api("acme", "rotations/"), params={"open": "false"}).json()["results"] == []
    problem(viewer.get(api("acme", "rotations/"), params={"state": "nonsense"}), 400)


def test_a_campaign_over_filtered_stations_paused_resumed_and_aborted(operator, viewer):
    started = operator.post(api("acme", "campaigns/"), json={"name": "Y fleet", "filter": {"vendor": "VendorY"},
                                                            "concurrency": 1, "canary_size": 1})
    assert started.status_code == 201, started.text
    campaign = started.json()
    assert campaign["total"] == 3 and campaign["members"]["in_progress"] == 1 and campaign["state"] == "running"
    overlapping = problem(operator.post(api("acme", "campaigns/"), json={"stations": ["CP0", "CP1"]}), 409)
    assert "CP0" in overlapping["detail"]
    cid = campaign["id"]
    assert operator.post(api("acme", f"campaigns/{cid}/pause")).json()["state"] == "paused"
    problem(operator.post(api("acme", f"campaigns/{cid}/pause")), 409)
    assert operator.post(api("acme", f"campaigns/{cid}/resume")).json()["state"] == "running"
    aborted = operator.post(api("acme", f"campaigns/{cid}/abort")).json()
    assert aborted["state"] == "aborted" and aborted["members"]["skipped"] == 2
    members = viewer.get(api("acme", f"campaigns/{cid}/members/"), params={"state": "skipped"}).json()["results"]
    assert {m["station"] for m in members} == {"CP2", "CP4"} and members[0]["detail"] == "the campaign was aborted"
    assert [c["id"] for c in viewer.get(api("acme", "campaigns/")).json()["results"]] == [cid]
    assert viewer.get(api("acme", f"campaigns/{cid}/")).json()["percent_done"] == 66
    problem(viewer.post(api("acme", f"campaigns/{cid}/resume")), 403)
    unknown = problem(operator.post(api("acme", "campaigns/"), json={"stations": ["NOPE"]}), 400)
    assert "NOPE" in str(unknown["errors"])
    problem(operator.post(api("acme", "campaigns/"), json={"filter": {"connected": "maybe"}}), 400)


# --- onboarding ----------------------------------------------------------------------------

def test_onboarding_hold_release_approve_and_reject(acme, operator, viewer):
    make_station(acme, "SERIES-1", AL1000_KEY, origin="master", needs_unique_key=True)
    make_station(acme, "WAIT-1", AL1000_KEY, registration_status="Pending")
    assert viewer.get(api("acme", "onboarding/")).json()["held"] is False
    problem(operator.post(api("acme", "onboarding/release")), 409)
    acme.onboarding_held_since = acme.created_at
    acme.save()
    hold = viewer.get(api("acme", "onboarding/")).json()
    assert hold["held"] is True and hold["on_series_key"] == 1
    assert operator.post(api("acme", "onboarding/release")).json()["held"] is False
    waiting = viewer.get(api("acme", "onboarding/stations/")).json()
    assert [s["identity"] for s in waiting["results"]] == ["SERIES-1", "WAIT-1"]
    assert operator.post(api("acme", "onboarding/stations/WAIT-1/approve")).json()["registration_status"] \
        == "Accepted"
    assert operator.post(api("acme", "onboarding/stations/CP0/reject")).json()["registration_setting"] == "Rejected"
    problem(operator.post(api("acme", "onboarding/stations/CP0/reject")), 409)
    problem(viewer.post(api("acme", "onboarding/stations/CP1/reject")), 403)
    assert AuditEvent.objects.filter(action="onboarding.released", actor="operator").exists()


# --- authentication policy ----------------------------------------------------------------

def test_groups_and_the_default_are_the_admins(admin, operator, viewer):
    made = admin.post(api("acme", "auth/groups/"), json={"name": "depot", "patterns": {"identity": "CP1*"},
                                                         "methods": ["basic", "digest"],
                                                         "networks": ["10.0.0.0/8"]})
    assert made.status_code == 201, made.text
    assert made.json() == {"name": "depot", "rank": 10, "patterns": {"identity": "CP1*", "vendor": "", "model": "",
                                                                    "firmware": ""},
                           "methods": ["basic", "digest"], "networks": ["10.0.0.0/8"]}
    problem(admin.post(api("acme", "auth/groups/"), json={"name": "other", "rank": 10}), 409)
    problem(admin.post(api("acme", "auth/groups/"), json={"name": "-bad"}), 400)
    problem(admin.post(api("acme", "auth/groups/"), json={"name": "n", "networks": ["10.0.0.1/8"]}), 400)
    problem(operator.post(api("acme", "auth/groups/"), json={"name": "mine"}), 403)
    assert viewer.get(api("acme", "stations/CP1/auth/")).json()["group"] == "depot"

    stranding = problem(admin.patch(api("acme", "auth/groups/depot/"), json={"methods": ["token"]}), 409)
    assert stranding["stranded"] == ["CP1"]
    assert admin.patch(api("acme", "auth/groups/depot/"), json={"methods": ["token"], "force": True}).json()[
        "methods"] == ["token"]
    assert [g["name"] for g in viewer.get(api("acme", "auth/groups/")).json()] == ["depot"]
    assert admin.delete(api("acme", "auth/groups/depot/")).status_code == 204
    problem(viewer.get(api("acme", "auth/groups/depot/")), 404)

    assert viewer.get(api("acme", "auth/default/")).json() == {"methods": ["basic"], "inherited": True}
    problem(admin.put(api("acme", "auth/default/"), json={"methods": ["token"]}), 409)
    assert admin.put(api("acme", "auth/default/"), json={"methods": ["digest", "basic"]}).json() == {
        "methods": ["digest", "basic"], "inherited": False}
    assert StationGroup.objects.count() == 0


def test_logins_and_a_totp_secret_shown_once(operator, viewer):
    added = operator.post(api("acme", "stations/CP1/logins/"), json={"login": "cabinet-7"})
    assert added.status_code == 201 and added.json()["login"] == "cabinet-7"
    problem(operator.post(api("acme", "stations/CP2/logins/"), json={"login": "cabinet-7"}), 409)
    problem(operator.post(api("acme", "stations/CP2/logins/"), json={"login": "CP1"}), 409)
    problem(operator.post(api("acme", "stations/CP2/logins/"), json={"login": "a:b"}), 400)
    assert [x["login"] for x in viewer.get(api("acme", "stations/CP1/logins/")).json()] == ["cabinet-7"]
    assert operator.delete(api("acme", "stations/CP1/logins/cabinet-7/")).status_code == 204
    problem(operator.delete(api("acme", "stations/CP1/logins/cabinet-7/")), 404)

    problem(viewer.get(api("acme", "stations/CP1/totp/")), 404)
    issued = operator.post(api("acme", "stations/CP1/totp/"), json={"length": 10})
    assert issued.status_code == 201, issued.text
    secret = issued.json()["secret"]
    assert len(secret) == 32 and issued.json()["length"] == 10
    shown = viewer.get(api("acme", "stations/CP1/totp/")).json()
    assert shown["active"] is True and secret not in str(shown)
    problem(operator.post(api("acme", "stations/CP1/totp/"), json={}), 409)
    problem(operator.post(api("acme", "stations/CP1/totp/"), json={"length": 99}), 400)
    problem(viewer.delete(api("acme", "stations/CP1/totp/")), 403)
    assert operator.delete(api("acme", "stations/CP1/totp/")).json()["active"] is False


# --- the audit log ------------------------------------------------------------------------

def test_the_audit_log_filtered_paged_and_as_csv(operator, viewer):
    operator.post(api("acme", "stations/CP1/rotations/"), json={})
    operator.post(api("acme", "stations/"), json={"identity": "=HYPERLINK(1)", "key": KEY,
                                                  "allowed_protocols": ["ocpp1.6"]})  # 2.0.1 refuses "("
    page = viewer.get(api("acme", "audit/"), params={"page_size": 1}).json()
    assert len(page["results"]) == 1 and page["next"]
    mine = viewer.get(api("acme", "audit/"), params={"actor": "operator", "station": "CP1"}).json()["results"]
    assert [e["action"] for e in mine] == ["credential.change_requested"]
    assert viewer.get(api("acme", "audit/"), params={"action_prefix": "credential."}).json()["results"]
    problem(viewer.get(api("acme", "audit/"), params={"after": "yesterday"}), 400)
    exported = viewer.get(api("acme", "audit/export.csv"), params={"actor": "operator"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["at", "actor", "action", "station", "outcome", "detail"]
    assert {r[1] for r in rows[1:]} == {"operator"} and len(rows) == 3
    assert all(r[0].endswith("Z") for r in rows[1:])  # the one timestamp format (lib/timestamps.py)
    assert "'=HYPERLINK(1)" in exported.text  # a cell that would be a formula is quoted
    assert KEY not in exported.text


# --- tenant isolation, for every endpoint --------------------------------------------------

OTHER_ENDPOINTS = [
    ("GET", "stations/"), ("POST", "stations/"), ("GET", "stations/OTHER-1/"), ("PATCH", "stations/OTHER-1/"),
    ("DELETE", "stations/OTHER-1/"), ("POST", "station-imports/"), ("GET", "rotations/"),
    ("GET", "stations/OTHER-1/rotations/"), ("POST", "stations/OTHER-1/rotations/"),
    ("GET", "campaigns/"), ("POST", "campaigns/"), ("GET", "campaigns/{campaign}/"),
    ("GET", "campaigns/{campaign}/members/"), ("POST", "campaigns/{campaign}/pause"),
    ("POST", "campaigns/{campaign}/resume"), ("POST", "campaigns/{campaign}/abort"),
    ("GET", "onboarding/"), ("POST", "onboarding/release"), ("GET", "onboarding/stations/"),
    ("POST", "onboarding/stations/OTHER-1/approve"), ("POST", "onboarding/stations/OTHER-1/reject"),
    ("GET", "auth/groups/"), ("POST", "auth/groups/"), ("GET", "auth/groups/g/"), ("PATCH", "auth/groups/g/"),
    ("DELETE", "auth/groups/g/"), ("GET", "auth/default/"), ("PUT", "auth/default/"),
    ("GET", "stations/OTHER-1/auth/"), ("PUT", "stations/OTHER-1/auth/"), ("GET", "stations/OTHER-1/tokens/"),
    ("POST", "stations/OTHER-1/tokens/"), ("GET", "stations/OTHER-1/logins/"),
    ("POST", "stations/OTHER-1/logins/"), ("DELETE", "stations/OTHER-1/logins/l1/"),
    ("GET", "stations/OTHER-1/totp/"), ("POST", "stations/OTHER-1/totp/"), ("DELETE", "stations/OTHER-1/totp/"),
    ("GET", "auth-status/"), ("GET", "audit/"), ("GET", "audit/export.csv"),
]


def test_another_tenants_objects_are_404_at_every_endpoint(csms, acme, admin):
    other = make_tenant("other")
    station = make_station(other, "OTHER-1", AL1000_KEY)
    StationGroup.objects.create(tenant=other, name="g", rank=1)
    campaign = RotationCampaign.objects.create(tenant=other, name="theirs", created_by="x")
    CampaignMember.objects.create(tenant=other, station=station, campaign=campaign)
    before = AuditEvent.objects.filter(tenant=other).count()
    body = {"identity": "X", "key": KEY, "methods": ["basic"], "login": "l2", "name": "h", "stations": ["OTHER-1"],
            "csv": "identity\nY\n"}
    for method, path in OTHER_ENDPOINTS:
        path = path.format(campaign=campaign.pk)
        response = admin.request(method, api("other", path), json=None if method in ("GET", "DELETE") else body)
        problem(response, 404)
        # and the admin's own tenant has no such campaign either
        if "{campaign}" in path:
            problem(admin.request(method, api("acme", path)), 404)
    assert Station.objects.filter(tenant=other).count() == 1 and StationGroup.objects.filter(tenant=other).exists()
    assert RotationCampaign.objects.get(pk=campaign.pk).state == "running"
    assert AuditEvent.objects.filter(tenant=other).count() == before
    problem(admin.get(api("acme", f"campaigns/{campaign.pk}/")), 404)

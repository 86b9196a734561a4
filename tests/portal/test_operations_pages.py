"""The onboarding queue, rotation campaigns and the audit log in the portal: who may
open and do what (every role, strangers, anonymous users, another tenant's objects), and
what an operator sees happen — an approved station leaves the queue, a paused campaign
starts no more stations, the CSV holds the log as the API exports it."""
import csv
import io

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from csms import campaign_pages, campaigns, onboarding_pages
from csms.models import AuditEvent, CampaignMember, RegistrationStatus, RotationCampaign, Station
from tenants.models import Role
from tests.factories import make_station, make_tenant
from tests.portal.people import PASSWORD, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def station(tenant, identity, **fields):
    return make_station(tenant, identity, key=bytes(range(20)), origin="generated", **fields)


@pytest.fixture
def fleet():
    acme, other = make_tenant("acme", name="Acme Charging"), make_tenant("other", name="Other Power")
    for n in range(4):
        station(acme, f"ACME-{n}", vendor="VendorA" if n % 2 else "VendorB")
    station(acme, "WAIT-1", registration_status=RegistrationStatus.PENDING)
    make_station(acme, "SERIES-1", key=bytes(range(20)), origin="master", needs_unique_key=True)
    station(other, "OTHER-1", registration_status=RegistrationStatus.PENDING)
    theirs = campaigns.start(other, list(Station.objects.for_tenant(other)), actor="x", canary_size=0)
    ours = campaigns.start(acme, list(Station.objects.for_tenant(acme).filter(identity__startswith="ACME-")),
                           actor="setup", name="nightly", concurrency=1, canary_size=1)
    return acme, other, ours, theirs



def pages(fleet):
    cid = fleet[2].pk
    return ["/t/acme/onboarding/", "/t/acme/onboarding/?registration=Pending&q=wait",
            "/t/acme/campaigns/", f"/t/acme/campaigns/{cid}/", f"/t/acme/campaigns/{cid}/?state=failed",
            "/t/acme/audit/", "/t/acme/audit/?actor=setup", "/t/acme/audit/export.csv"]


def actions(fleet):
    cid = fleet[2].pk
    return [("/t/acme/onboarding/stations/WAIT-1/approve", {}),
            ("/t/acme/onboarding/stations/SERIES-1/reject", {"confirmed": "yes"}),
            ("/t/acme/onboarding/release", {"confirmed": "yes"}),
            (f"/t/acme/campaigns/{cid}/pause", {}),
            (f"/t/acme/campaigns/{cid}/resume", {}),
            (f"/t/acme/campaigns/{cid}/abort", {"confirmed": "yes"}),
            ("/t/acme/campaigns/new", {"vendor": "VendorA", "concurrency": "2", "canary_size": "1",
                                       "max_failure_percent": "20", "confirmed": "yes"})]


def untouched(fleet):
    assert Station.objects.get(identity="WAIT-1").registration_status == RegistrationStatus.PENDING
    assert Station.objects.get(identity="SERIES-1").registration_status == RegistrationStatus.ACCEPTED
    assert RotationCampaign.objects.get(pk=fleet[2].pk).state == RotationCampaign.State.RUNNING
    assert RotationCampaign.objects.count() == 2


# --- who may do what ----------------------------------------------------------------------

def test_signed_out_users_are_sent_to_sign_in(client, fleet):
    for url in [*pages(fleet), "/t/acme/campaigns/new"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    for url, form in actions(fleet):
        response = client.post(url, form)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    untouched(fleet)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.ADMIN])
def test_every_staff_role_sees_every_page_and_nothing_of_another_tenant(fleet, role):
    client = signed_in("staff", (fleet[0], role))
    for url in pages(fleet):
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"OTHER-1" not in body and b"Other Power" not in body, url


def test_a_viewer_is_refused_every_action_and_sees_no_action_button(fleet):
    client = signed_in("viewer", (fleet[0], Role.VIEWER))
    for url, form in actions(fleet):
        assert client.post(url, form).status_code == 403, url
    assert client.get("/t/acme/campaigns/new").status_code == 403
    assert "Approve" not in client.get("/t/acme/onboarding/").content.decode()
    detail = client.get(f"/t/acme/campaigns/{fleet[2].pk}/").content.decode()
    assert "Pause" not in detail and "Abort" not in detail
    assert "Start a campaign" not in client.get("/t/acme/campaigns/").content.decode()
    untouched(fleet)


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN])
def test_operators_and_admins_may_act_and_are_the_actor(fleet, role):
    fleet[0].onboarding_held_since = timezone.now()
    fleet[0].save()
    client = signed_in("ops", (fleet[0], role))
    for url, form in actions(fleet):
        assert client.post(url, form).status_code == 302, url
    assert Station.objects.get(identity="WAIT-1").registration_status == RegistrationStatus.ACCEPTED
    assert Station.objects.get(identity="SERIES-1").registration_status == RegistrationStatus.REJECTED
    assert RotationCampaign.objects.get(pk=fleet[2].pk).state == RotationCampaign.State.ABORTED
    new = RotationCampaign.objects.for_tenant(fleet[0]).exclude(pk=fleet[2].pk).get()
    assert new.created_by == "ops"
    actions_done = set(AuditEvent.objects.filter(actor="ops").values_list("action", flat=True))
    assert actions_done == {"onboarding.accepted", "onboarding.rejected", "onboarding.released",
                            "campaign.paused", "campaign.resumed", "campaign.aborted", "campaign.started"}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.DRIVER])
def test_a_member_of_another_tenant_gets_404_for_every_page_and_action(fleet, role):
    client = signed_in("stranger", (fleet[1], role))
    for url in [*pages(fleet), "/t/acme/campaigns/new"]:
        assert client.get(url).status_code == 404, url
    for url, form in actions(fleet):
        assert client.post(url, form).status_code == 404, url
    untouched(fleet)


def test_another_tenants_objects_are_404_under_ones_own_tenant(fleet):
    client = signed_in("ops", (fleet[0], Role.OPERATOR))
    theirs = fleet[3].pk
    assert client.get(f"/t/acme/campaigns/{theirs}/").status_code == 404
    for verb in ("pause", "resume", "abort"):
        assert client.post(f"/t/acme/campaigns/{theirs}/{verb}", {"confirmed": "yes"}).status_code == 404
    assert client.post("/t/acme/onboarding/stations/OTHER-1/approve").status_code == 404
    assert client.post("/t/acme/onboarding/stations/OTHER-1/reject", {"confirmed": "yes"}).status_code == 404
    assert RotationCampaign.objects.get(pk=theirs).state == RotationCampaign.State.RUNNING
    assert Station.objects.get(identity="OTHER-1").registration_status == RegistrationStatus.PENDING
    # A campaign started from acme's page never takes another tenant's station, whatever it matches.
    client.post("/t/acme/campaigns/new", {"q": "OTHER", "concurrency": "1", "canary_size": "0",
                                           "max_failure_percent": "0", "confirmed": "yes"})
    assert not CampaignMember.objects.filter(tenant=fleet[0], station__identity="OTHER-1").exists()
    # The log's keyset cursor ignores another tenant's event id rather than leaking its time.
    foreign = AuditEvent.objects.filter(tenant=fleet[1]).first().pk
    assert client.get(f"/t/acme/audit/?older_than={foreign}").status_code == 200


def test_actions_need_post_and_a_csrf_token(fleet):
    client = signed_in("ops", (fleet[0], Role.OPERATOR))
    assert client.get("/t/acme/onboarding/stations/WAIT-1/approve").status_code == 405
    assert client.get(f"/t/acme/campaigns/{fleet[2].pk}/pause").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.login(username="ops", password=PASSWORD)
    for url, form in actions(fleet):
        assert strict.post(url, form).status_code == 403, url
    untouched(fleet)


def test_destructive_actions_ask_first(fleet):
    fleet[0].onboarding_held_since = timezone.now()
    fleet[0].save()
    client = signed_in("ops", (fleet[0], Role.OPERATOR))
    for url, form in [("/t/acme/onboarding/stations/WAIT-1/reject", {}),
                      ("/t/acme/onboarding/release", {}),
                      (f"/t/acme/campaigns/{fleet[2].pk}/abort", {}),
                      ("/t/acme/campaigns/new", {"concurrency": "5", "canary_size": "1", "max_failure_percent": "20"})]:
        asked = client.post(url, form)
        assert asked.status_code == 200 and "Yes, go ahead" in asked.content.decode(), url
        assert f'action="{url}"' in asked.content.decode()
    untouched(fleet)
    fleet[0].refresh_from_db()
    assert fleet[0].onboarding_held_since is not None


# --- onboarding queue ---------------------------------------------------------------------

def test_approving_moves_a_station_out_of_the_queue(fleet):
    client = signed_in("ops", (fleet[0], Role.OPERATOR))
    queue = client.get("/t/acme/onboarding/").content.decode()
    assert "WAIT-1" in queue and "SERIES-1" in queue and "ACME-1" not in queue
    done = client.post("/t/acme/onboarding/stations/WAIT-1/approve", {"back": "registration=Pending"}, follow=True)
    assert done.redirect_chain[-1][0] == "/t/acme/onboarding/?registration=Pending"  # the queue as it was left
    assert "WAIT-1 approved" in done.content.decode()
    assert "WAIT-1" not in client.get("/t/acme/onboarding/?registration=Pending").content.decode()
    assert AuditEvent.objects.filter(action="onboarding.accepted", actor="ops",
                                     station__identity="WAIT-1").exists()
    again = client.post("/t/acme/onboarding/stations/WAIT-1/approve", follow=True).content.decode()
    assert "Accepted already" in again  # the service's refusal, said plainly


def test_the_queue_is_filtered_and_paged_on_the_server(fleet, monkeypatch):
    monkeypatch.setattr(onboarding_pages, "PAGE_SIZE", 1)
    client = signed_in("viewer", (fleet[0], Role.VIEWER))
    first = client.get("/t/acme/onboarding/").content.decode()
    assert "2 stations waiting, page 1 of 2" in first and "WAIT-1" in first and "SERIES-1" not in first
    second = client.get("/t/acme/onboarding/?page=2").content.decode()
    assert "SERIES-1" in second and "WAIT-1" not in second
    series = client.get("/t/acme/onboarding/?onboarding=true").content.decode()
    assert "1 station waiting" in series and "SERIES-1" in series
    assert "No waiting station matches" in client.get("/t/acme/onboarding/?q=nothing-like-it").content.decode()
    assert 'role="alert"' in client.get("/t/acme/onboarding/?connected=maybe").content.decode()


def test_the_hold_is_shown_and_released_once(fleet):
    client = signed_in("ops", (fleet[0], Role.OPERATOR))
    assert "Onboarding is open" in client.get("/t/acme/onboarding/").content.decode()
    assert "Nothing released" in client.post("/t/acme/onboarding/release", {"confirmed": "yes"},
                                             follow=True).content.decode()
    fleet[0].onboarding_held_since = timezone.now()
    fleet[0].save()
    held = client.get("/t/acme/onboarding/").content.decode()
    assert "Onboarding is held" in held and "Release the hold…" in held
    released = client.post("/t/acme/onboarding/release", {"confirmed": "yes"}, follow=True).content.decode()
    assert "Onboarding released; 1 station get" in released
    assert AuditEvent.objects.filter(action="onboarding.released", actor="ops").count() == 1


# --- campaigns ----------------------------------------------------------------------------

def test_pausing_a_campaign_stops_it_starting_stations(fleet):
    client = signed_in("ops", (fleet[0], Role.OPERATOR))
    campaign = fleet[2]
    started = campaign.members.exclude(state=CampaignMember.State.WAITING).count()
    assert started == 1  # the canary
    paused = client.post(f"/t/acme/campaigns/{campaign.pk}/pause", follow=True).content.decode()
    assert f"Campaign {campaign.pk} paused" in paused and "Resume" in paused
    campaign.members.filter(state=CampaignMember.State.IN_PROGRESS).update(
        state=CampaignMember.State.SUCCEEDED, finished_at=timezone.now())
    campaigns.advance(campaign.pk)  # what the beat does: a paused campaign starts nobody
    assert campaign.members.filter(state=CampaignMember.State.IN_PROGRESS).count() == 0
    assert "Not paused: campaign is paused" in client.post(f"/t/acme/campaigns/{campaign.pk}/pause",
                                                            follow=True).content.decode()
    client.post(f"/t/acme/campaigns/{campaign.pk}/resume")
    assert campaign.members.filter(state=CampaignMember.State.IN_PROGRESS).count() == 1


def test_a_campaign_page_shows_progress_live_and_lists_the_failures(fleet, monkeypatch):
    campaign = fleet[2]
    members = list(campaign.members.order_by("id"))
    members[0].state, members[0].detail = CampaignMember.State.FAILED, "Rejected by the station"
    members[1].state = CampaignMember.State.SUCCEEDED
    CampaignMember.objects.bulk_update(members[:2], ["state", "detail"])
    client = signed_in("viewer", (fleet[0], Role.VIEWER))
    page = client.get(f"/t/acme/campaigns/{campaign.pk}/").content.decode()
    assert 'value="2"' in page and "2 of 4 (50 %)" in page and 'hx-trigger="every 3s"' in page
    live = client.get(f"/t/acme/campaigns/{campaign.pk}/", HTTP_HX_REQUEST="true",
                      HTTP_HX_TARGET="campaign-live").content.decode()
    assert 'id="campaign-live"' in live
    assert "Stations and outcomes" not in live  # only the part that changes
    failures = client.get(f"/t/acme/campaigns/{campaign.pk}/?state=failed").content.decode()
    assert "1 station" in failures and "Rejected by the station" in failures and members[0].station.identity in failures
    monkeypatch.setattr(campaign_pages, "MEMBERS_SIZE", 2)
    assert "page 1 of 2" in client.get(f"/t/acme/campaigns/{campaign.pk}/").content.decode()
    campaigns.abort(campaign, "ops")
    ended = client.get(f"/t/acme/campaigns/{campaign.pk}/").content.decode()
    assert "every 3s" not in ended  # a finished campaign stops polling


def test_the_outcomes_follow_the_progress_and_a_new_state_redraws_the_page(fleet):
    """While a campaign runs, its stations' outcomes refresh with the progress (the page
    and filter kept); when its state changes under the page (its failure limit paused
    it, it finished), the page is drawn again, so its buttons fit the new state."""
    campaign = fleet[2]
    client = signed_in("viewer", (fleet[0], Role.VIEWER))
    live = {"HTTP_HX_REQUEST": "true"}
    page = client.get(f"/t/acme/campaigns/{campaign.pk}/?state=failed").content.decode()
    assert f'/t/acme/campaigns/{campaign.pk}/?state=failed&amp;page=1" hx-trigger="every 3s"' in page
    assert f'/t/acme/campaigns/{campaign.pk}/?seen=running" hx-trigger="every 3s"' in page
    first = campaign.members.order_by("id").first()
    first.state, first.detail = CampaignMember.State.FAILED, "no answer"
    first.save()
    outcomes = client.get(f"/t/acme/campaigns/{campaign.pk}/?state=failed&page=1", HTTP_HX_TARGET="campaign-members",
                          **live).content.decode()
    assert outcomes.lstrip().startswith('<div id="campaign-members"') and "no answer" in outcomes and "<html" not in outcomes
    same = client.get(f"/t/acme/campaigns/{campaign.pk}/?seen=running", HTTP_HX_TARGET="campaign-live", **live)
    assert same.status_code == 200 and "HX-Refresh" not in same
    campaigns.pause(campaign, "ops")
    changed = client.get(f"/t/acme/campaigns/{campaign.pk}/?seen=running", HTTP_HX_TARGET="campaign-live", **live)
    assert changed["HX-Refresh"] == "true"


def test_the_campaign_list_counts_in_one_query_however_many_campaigns(fleet):
    client = signed_in("viewer", (fleet[0], Role.VIEWER))
    client.get("/t/acme/campaigns/")
    with CaptureQueriesContext(connection) as one:
        listed = client.get("/t/acme/campaigns/").content.decode()
    for n in range(5):
        RotationCampaign.objects.create(tenant=fleet[0], name=f"old {n}", created_by="x",
                                        state=RotationCampaign.State.COMPLETED)
    with CaptureQueriesContext(connection) as six:
        client.get("/t/acme/campaigns/")
    assert len(six.captured_queries) == len(one.captured_queries)  # no query per campaign
    assert "nightly" in listed and "0 of 4 (0 %)" in listed  # the canary runs, none finished


def test_starting_a_campaign_with_filters_from_the_form(fleet):
    client = signed_in("ops", (fleet[0], Role.OPERATOR))
    assert 'for="c-concurrency"' in client.get("/t/acme/campaigns/new").content.decode()
    campaigns.abort(fleet[2], "ops")
    form = {"vendor": "vendora", "name": "A only", "concurrency": "3", "canary_size": "1",
            "max_failure_percent": "10"}
    asked = client.post("/t/acme/campaigns/new", form).content.decode()
    assert "Rotate the keys of 2 stations?" in asked and "vendor = vendora" in asked
    started = client.post("/t/acme/campaigns/new", {**form, "confirmed": "yes"}, follow=True)
    new = RotationCampaign.objects.for_tenant(fleet[0]).get(name="A only")
    assert started.redirect_chain[-1][0] == f"/t/acme/campaigns/{new.pk}/"
    assert (new.concurrency, new.canary_size, new.max_failure_percent) == (3, 1, 10)
    assert set(new.members.values_list("station__identity", flat=True)) == {"ACME-1", "ACME-3"}
    overlap = client.post("/t/acme/campaigns/new", {**form, "confirmed": "yes"})
    assert overlap.status_code == 409 and "ACME-1" in overlap.content.decode()
    bad = client.post("/t/acme/campaigns/new", {**form, "concurrency": "0", "confirmed": "yes"})
    assert bad.status_code == 400 and "concurrency" in bad.content.decode()
    none = client.post("/t/acme/campaigns/new", {**form, "q": "nothing-like-it", "confirmed": "yes"})
    assert none.status_code == 400 and "select no station" in none.content.decode()
    typo = client.post("/t/acme/campaigns/new", {**form, "connected": "ture", "confirmed": "yes"})
    assert typo.status_code == 400  # never read as "no filter", which would rotate the whole fleet
    assert RotationCampaign.objects.for_tenant(fleet[0]).count() == 2


# --- audit log ----------------------------------------------------------------------------

def test_the_audit_log_is_filtered_and_paged(fleet, monkeypatch):
    from csms import audit_pages

    client = signed_in("viewer", (fleet[0], Role.VIEWER))
    page = client.get("/t/acme/audit/?action_prefix=campaign.").content.decode()
    table = page[page.index("<table"):]  # the action menu above it names every action
    assert "campaign.started" in table and "credential." not in table and "UTC</time>" in page
    by_station = client.get("/t/acme/audit/?station=WAIT-1").content.decode()
    assert "WAIT-1" in by_station and "ACME-1" not in by_station
    assert "setup" in client.get("/t/acme/audit/?actor=setup").content.decode()
    assert f"campaign: {fleet[2].pk}" in page  # its detail, as recorded
    future = client.get("/t/acme/audit/?after=2999-01-01T00:00").content.decode()
    assert "No event matches" in future
    assert 'role="alert"' in client.get("/t/acme/audit/?after=yesterday").content.decode()
    monkeypatch.setattr(audit_pages, "PAGE_SIZE", 2)
    total = AuditEvent.objects.for_tenant(fleet[0]).count()
    seen, url = [], "/t/acme/audit/"
    for _ in range(total):
        response = client.get(url)
        seen += [e.pk for e in response.context["events"]]
        if response.context["older"] is None:
            break
        url = f"/t/acme/audit/?older_than={response.context['older']}"
    assert seen == list(AuditEvent.objects.for_tenant(fleet[0]).order_by("-at", "-id").values_list("pk", flat=True))


def test_the_csv_export_is_the_apis(fleet):
    Station.objects.filter(identity="ACME-0").update(identity="=HYPERLINK(1)")
    AuditEvent.objects.create(tenant=fleet[0], actor="@evil", action="station.note",
                              station=Station.objects.get(identity="=HYPERLINK(1)"), outcome="+1")
    client = signed_in("viewer", (fleet[0], Role.VIEWER))
    exported = client.get("/t/acme/audit/export.csv?actor=%40evil")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    assert exported["Content-Disposition"] == 'attachment; filename="audit-acme.csv"'
    assert exported["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[0] == ["at", "actor", "action", "station", "outcome", "detail"]
    assert rows[1][1:5] == ["'@evil", "station.note", "'=HYPERLINK(1)", "'+1"] and len(rows) == 2
    assert rows[1][0].endswith("Z") and "T" in rows[1][0]
    everything = b"".join(client.get("/t/acme/audit/export.csv").streaming_content).decode()
    assert len(everything.splitlines()) == AuditEvent.objects.for_tenant(fleet[0]).count() + 1
    assert "OTHER-1" not in everything
    assert client.get("/t/acme/audit/export.csv?before=soon").status_code == 400
    assert 'href="/t/acme/audit/export.csv?actor=setup"' in client.get("/t/acme/audit/?actor=setup").content.decode()


def test_an_identity_with_a_slash_is_listed_linked_and_decided(fleet):
    # OCPP 1.6 allows '/' in an identity; its links must build, and its actions reach it.
    station(fleet[0], "DEPOT/7", registration_status=RegistrationStatus.PENDING, allowed_protocols=["ocpp1.6"])
    client = signed_in("ops", (fleet[0], Role.OPERATOR))
    queue = client.get("/t/acme/onboarding/").content.decode()
    assert 'href="/t/acme/stations/DEPOT/7/"' in queue
    assert client.get("/t/acme/stations/DEPOT/7/").status_code == 200
    assert client.post("/t/acme/onboarding/stations/DEPOT/7/approve").status_code == 302
    assert Station.objects.get(identity="DEPOT/7").registration_status == RegistrationStatus.ACCEPTED
    assert client.get("/t/acme/audit/?station=DEPOT/7").status_code == 200

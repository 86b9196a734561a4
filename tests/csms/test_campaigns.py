"""Rotation campaigns: canary first, bounded concurrency, pause on failures."""
import json

import pytest
from django.core.management import CommandError

from csms import campaigns, credentials, services
from csms.campaign_rules import Decision, Limits, Tally, decide
from csms.models import AuditEvent, CampaignMember, RotationCampaign, StationCall
from csms.rotation import Outcome
from tests.commands import run_cmd
from tests.factories import AL1000_KEY, end_call, make_station, make_tenant

LIMITS = Limits(concurrency=3, canary_size=2, max_failure_percent=25)


@pytest.mark.parametrize("tally, expected", [
    (Tally(10, 0, 0, 0), Decision(start=2)),             # canary first
    (Tally(8, 2, 0, 0), Decision(start=0)),              # canary running: nothing more
    (Tally(8, 1, 1, 0), Decision(start=0)),              # one canary left
    (Tally(8, 0, 2, 0), Decision(start=3)),              # canary passed: full concurrency
    (Tally(5, 3, 2, 0), Decision(start=0)),
    (Tally(5, 2, 3, 0), Decision(start=1)),
    (Tally(8, 0, 1, 1), Decision(pause_reason="canary: 1 of 2 failed (limit 25%)")),
    (Tally(4, 1, 4, 1), Decision(start=2)),              # 1 of 5 = 20 %: go on
    (Tally(3, 1, 4, 2), Decision(pause_reason="rollout: 2 of 6 failed (limit 25%)")),
    (Tally(0, 0, 5, 0), Decision(complete=True)),
    (Tally(0, 0, 0, 5), Decision(complete=True)),        # all failed, nothing left: done
    (Tally(1, 0, 0, 0), Decision(start=1)),              # fewer stations than the canary
    (Tally(1, 0, 0, 1), Decision(start=1)),              # half a canary in: not judged yet
    (Tally(1, 0, 1, 1), Decision(pause_reason="canary: 1 of 2 failed (limit 25%)")),
    (Tally(0, 1, 1, 0), Decision(start=0)),              # last one running
])
def test_decide(tally, expected):
    assert decide(tally, LIMITS) == expected


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in-process (the broker path has its own test with a real worker)."""
    from portal.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def answer_all(outcomes: dict):
    """Every station with a queued credential call answers as `outcomes[identity]` says,
    and proves its key where it applied it."""
    for call in list(StationCall.objects.filter(purpose=StationCall.Purpose.CREDENTIAL,
                                                state=StationCall.State.QUEUED)
                     .select_related("station")):
        identity = call.station.identity
        claimed = services.claim_next_call(call.station_id)
        prepared = credentials.prepare_call(claimed.pk, "ocpp1.6")
        outcome = outcomes[identity]
        end_call(claimed, outcome)
        if outcome is Outcome.ACCEPTED:
            new = bytes.fromhex(prepared.payload["value"])
            cred = call.station.credential
            cred.refresh_from_db()
            credentials.record_proof(call.station_id, next(
                h for h in (cred.current_hash, cred.previous_hash)
                if h and credentials.keys.verify_secret(new, h)))


def states(campaign):
    return sorted(CampaignMember.objects.filter(campaign=campaign).values_list("state", flat=True))


@pytest.mark.django_db
def test_campaign_with_failing_stations_pauses_and_resumes(django_capture_on_commit_callbacks, eager_tasks):
    tenant = make_tenant("acme")
    stations = [make_station(tenant, f"CP{i}", AL1000_KEY) for i in range(8)]
    outcomes = {s.identity: Outcome.ACCEPTED for s in stations}
    for bad in ("CP2", "CP3", "CP4"):
        outcomes[bad] = Outcome.REJECTED
    campaign = campaigns.start(tenant, stations, actor="tester", concurrency=3, canary_size=2,
                               max_failure_percent=25)
    assert StationCall.objects.filter(purpose="credential").count() == 2  # the canary only
    with django_capture_on_commit_callbacks(execute=True):
        answer_all(outcomes)  # CP0, CP1 succeed: the campaign advances by itself
    campaign.refresh_from_db()
    assert campaign.state == "running"
    assert states(campaign).count("in_progress") == 3
    answer_all(outcomes)  # CP2, CP3 fail, CP4 fails: 3 of 5 failed
    campaign = campaigns.advance(campaign.pk)
    assert campaign.state == "paused" and "failed" in campaign.paused_reason
    assert states(campaign).count("waiting") == 3
    assert AuditEvent.objects.filter(action="campaign.paused", actor="system").exists()
    # Nothing moves while paused.
    assert campaigns.advance(campaign.pk).state == "paused"
    assert not StationCall.objects.filter(purpose="credential", state="queued").exists()
    campaigns.resume(campaign, "operator")  # a fresh canary of two goes first
    assert states(campaign).count("in_progress") == 2
    answer_all(outcomes)
    campaigns.advance(campaign.pk)  # the beat's job: the canary passed, the last one starts
    answer_all(outcomes)
    campaign = campaigns.advance(campaign.pk)
    assert campaign.state == "completed"
    assert states(campaign) == ["failed"] * 3 + ["succeeded"] * 5


@pytest.mark.django_db
def test_station_with_an_open_change_is_skipped_not_failed():
    tenant = make_tenant("acme")
    busy, free = make_station(tenant, "BUSY", AL1000_KEY), make_station(tenant, "FREE", AL1000_KEY)
    credentials.request_change(busy, "demand", "tester")
    campaign = campaigns.start(tenant, [busy, free], actor="tester", canary_size=5)
    members = dict(CampaignMember.objects.filter(campaign=campaign).values_list("station__identity", "state"))
    assert members == {"BUSY": "skipped", "FREE": "in_progress"}



@pytest.mark.django_db
def test_campaign_commands():
    tenant = make_tenant("acme")
    for i in range(3):
        make_station(tenant, f"CP{i}", AL1000_KEY)
    started = json.loads(run_cmd("rotation", "campaign", "start", "acme", "--all", "--canary", "1",
                                 "--concurrency", "2", "--json"))
    assert started["state"] == "running" and started["members"]["in_progress"] == 1
    cid = str(started["id"])
    paused = json.loads(run_cmd("rotation", "campaign", "pause", "acme", cid, "--json"))
    assert paused["state"] == "paused" and paused["paused_reason"] == "paused by an operator"
    with pytest.raises(CommandError, match="campaign is paused"):
        run_cmd("rotation", "campaign", "pause", "acme", cid)
    assert json.loads(run_cmd("rotation", "campaign", "resume", "acme", cid, "--json"))["state"] == "running"
    listed = json.loads(run_cmd("rotation", "campaign", "status", "acme", "--json"))
    assert [c["id"] for c in listed] == [started["id"]]
    assert "campaign" in run_cmd("rotation", "campaign", "status", "acme", cid)
    with pytest.raises(CommandError, match="no such station"):
        run_cmd("rotation", "campaign", "start", "acme", "CP0", "NOPE")
    with pytest.raises(CommandError, match="--all"):
        run_cmd("rotation", "campaign", "start", "acme")
    with pytest.raises(CommandError, match="no campaign"):
        run_cmd("rotation", "campaign", "status", "acme", "999")
    assert RotationCampaign.objects.count() == 1

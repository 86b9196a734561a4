"""Every authentication decision is an audit event (csms/auth_audit.py): on a live server,
each outcome of each scheme shows in `station auth log` with method, outcome, reason and
source, never a credential, repeated failures coalesced into one event with their count;
in process, the buffer stays bounded whatever a flood sends, and keeps its events
through a database outage."""
import asyncio
import json

import pytest

from csms import auth_audit
from csms.models import AuditEvent
from stationclient import eap as eap_client
from stationclient.eap import EapClient, eap_challenge
from tests.commands import run_cmd
from tests.eap_client import attempt
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import basic_auth
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)

REALM = "Chargegate acme"
WRONG_KEY = bytes(range(20))


def log_of(identity="CP1", *args):
    return json.loads(run_cmd("station", "auth", "log", "acme", identity, "--json", *args))["events"]


def test_each_decision_is_an_event_with_method_outcome_reason_and_source(csms, run):
    make_station(make_tenant("acme"), "CP1", auth_methods=["eap", "basic"])
    assert run(attempt(csms, "CP1", basic_auth("CP1", AL1000_KEY)))[0] == 101
    for _ in range(3):
        assert run(attempt(csms, "CP1", basic_auth("CP1", WRONG_KEY)))[0] == 401
    assert run(attempt(csms, "CP1", "Basic %%%"))[0] == 400
    assert run(attempt(csms, "CP1", None))[0] == 401
    client = EapClient("CP1", AL1000_KEY.hex().upper().encode(), realm=REALM)
    status, values, _ = run(attempt(csms, "CP1", client.identity_response()))
    assert run(attempt(csms, "CP1", client.answer(eap_challenge(values))))[0] == 101

    def seen():
        events = log_of("CP1", "--limit", "100")
        assert sum(e["count"] for e in events) == 8
        return events
    # Events reach the database in the server's next flush, not with the answer.
    events = eventually(seen)
    # Repeats within one flush are one event with their count (how many fall in one
    # depends on timing, so the counts are summed here).
    counts: dict = {}
    for e in events:
        key = (e["method"], e["outcome"], e["reason"])
        counts[key] = counts.get(key, 0) + e["count"]
    assert counts == {
        ("basic", "accepted", ""): 1,
        ("basic", "challenged", "wrong credentials"): 3,
        ("basic", "malformed", "an auth-param has no '='"): 1,
        ("none", "challenged", "no credentials"): 1,
        ("eap", "challenged", "EAP identity received"): 1,
        ("eap", "accepted", ""): 1,
    }, counts
    assert {e["source"] for e in events} == {"127.0.0.1"}
    assert all(e["station"] == "CP1" for e in events)
    # Never a credential: neither key, in any form, is in any event.
    stored = json.dumps([a.detail for a in AuditEvent.objects.filter(action=auth_audit.ACTION)])
    for secret in (AL1000_KEY, WRONG_KEY):
        assert secret.hex() not in stored.lower() and basic_auth("CP1", secret)[6:] not in stored
    # The log filters by outcome and method; the text form says the same.
    assert {e["outcome"] for e in log_of("CP1", "--outcome", "accepted")} == {"accepted"}
    assert {e["method"] for e in log_of("CP1", "--method", "eap")} == {"eap"}
    text = run_cmd("station", "auth", "log", "acme", "CP1", "--outcome", "challenged", "--method", "basic")
    assert "CP1  basic  challenged  (wrong credentials)  from 127.0.0.1" in text


def test_repeats_in_one_flush_are_one_event_with_their_count(monkeypatch):
    tenant = make_tenant("acme")
    station = make_station(tenant, "CP1")
    monkeypatch.setattr(auth_audit, "_pending", {})

    async def scenario():
        one = auth_audit.Decision(tenant.pk, station.pk, "basic", "challenged", "wrong credentials", "10.0.0.1")
        for _ in range(3):
            auth_audit.record(one)
        auth_audit._flusher.cancel()
        return await auth_audit.flush()
    assert asyncio.run(scenario()) == 1
    text = run_cmd("station", "auth", "log", "acme", "CP1")
    assert "CP1  basic  challenged  (wrong credentials)  from 10.0.0.1 x3 since " in text


def test_events_stay_in_their_tenant(csms, run):
    make_station(make_tenant("acme"), "CP1")
    make_station(make_tenant("zeta"), "CP1")
    assert run(attempt(csms, "CP1", basic_auth("CP1", WRONG_KEY), tenant="zeta"))[0] == 401
    eventually(lambda: AuditEvent.objects.filter(action=auth_audit.ACTION, tenant__slug="zeta").exists())
    assert log_of("CP1") == []
    zeta = json.loads(run_cmd("station", "auth", "log", "zeta", "--json"))["events"]
    assert [(e["station"], e["outcome"]) for e in zeta] == [("CP1", "challenged")]


def test_eap_failures_are_events_too(csms, run):
    make_station(make_tenant("acme"), "CP1", auth_methods=["eap"])
    client = EapClient("CP1", b"not-the-key", realm=REALM)
    _, values, _ = run(attempt(csms, "CP1", client.identity_response()))
    status, values, _ = run(attempt(csms, "CP1", client.answer(eap_challenge(values))))
    assert status == 401 and eap_challenge(values)["code"] == eap_client.FAILURE
    eventually(lambda: any(e["reason"] == "wrong credentials" and e["method"] == "eap" for e in log_of()))


# --- the buffer, in process -------------------------------------------------------------------------

def decision(station_id, source="10.0.0.1", reason="wrong credentials"):
    return auth_audit.Decision(1, station_id, "basic", "challenged", reason, source)


def test_a_flood_from_countless_addresses_is_folded_per_station(monkeypatch):
    monkeypatch.setattr(auth_audit, "MAX_PENDING", 10)
    monkeypatch.setattr(auth_audit, "_pending", {})

    async def flood():
        for n in range(1000):
            auth_audit.record(decision(7, source=f"10.0.{n // 256}.{n % 256}"))
        auth_audit._flusher.cancel()
    asyncio.run(flood())
    pending = auth_audit._pending
    assert len(pending) == 11  # ten addresses, then one entry for the rest
    assert pending[decision(7, source=auth_audit.MANY_SOURCES)].count == 990


def test_an_outage_keeps_the_events_for_the_next_flush(monkeypatch):
    tenant = make_tenant("acme")
    station = make_station(tenant, "CP1")
    monkeypatch.setattr(auth_audit, "_pending", {})

    def broken(batch):
        raise RuntimeError("database unreachable")

    async def scenario():
        one = auth_audit.Decision(tenant.pk, station.pk, "basic", "challenged", "wrong credentials", "10.0.0.1")
        auth_audit.record(one)
        auth_audit.record(one)
        auth_audit._flusher.cancel()
        write, auth_audit.write = auth_audit.write, broken
        try:
            assert await auth_audit.flush() == 0
        finally:
            auth_audit.write = write
        return await auth_audit.flush()
    assert asyncio.run(scenario()) == 1
    (event,) = AuditEvent.objects.filter(action=auth_audit.ACTION)
    assert event.detail["count"] == 2 and event.station_id == station.pk and event.tenant_id == tenant.pk

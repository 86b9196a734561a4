"""A call's ending and what its purpose makes of it commit together (csms/lifecycle.py)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from csms import credentials, services, tasks
from csms.models import StationCall, StationCredential
from tests.factories import AL1000_KEY, end_call, make_station, make_tenant

pytestmark = pytest.mark.django_db


def sent_key_change():
    station = make_station(make_tenant(), "CP1", AL1000_KEY)
    change = credentials.request_change(station, "demand", "tester")
    call = services.claim_next_call(station.pk)
    credentials.prepare_call(call.pk, "ocpp1.6")
    return station, change, call


def test_a_crash_between_an_answer_and_its_key_outcome_leaves_the_call_to_the_reaper(monkeypatch):
    station, change, call = sent_key_change()

    def crash(*args, **kwargs):
        raise RuntimeError("process killed here")

    monkeypatch.setattr(credentials, "record_outcome", crash)
    with pytest.raises(RuntimeError):
        end_call(call, "Accepted")
    monkeypatch.undo()
    # Nothing of the answer was kept: the call is still out, the change still in flight...
    call.refresh_from_db()
    change.refresh_from_db()
    assert call.state == "sent" and call.response is None
    assert change.state == "in_flight"
    # ... so the reaper finds it once its process is presumed dead, and settles the change
    # as an answer that never came (both keys stay valid: nothing is known).
    StationCall.objects.filter(pk=call.pk).update(sent_at=timezone.now() - timedelta(hours=1))
    assert tasks.reap_orphaned_calls.apply().get() == 1
    call.refresh_from_db()
    change.refresh_from_db()
    assert call.state == "lost"
    assert change.state == "awaiting_proof" and change.outcome == "Dropped"
    cred = StationCredential.objects.get(station=station)
    assert cred.phase == "unknown" and cred.current_hash and cred.pending_hash


def test_a_call_is_ended_once_and_a_second_ending_changes_nothing():
    station, change, call = sent_key_change()
    assert end_call(call, "Accepted") is not None
    assert end_call(call, "Dropped") is None  # e.g. the socket's close racing the answer
    call.refresh_from_db()
    change.refresh_from_db()
    assert call.state == "answered" and call.response == {"status": "Accepted"}
    assert change.outcome == "Accepted"
    assert StationCredential.objects.get(station=station).phase == "unproven"


def test_a_reaped_call_is_not_ended_again_by_a_late_answer():
    station, change, call = sent_key_change()
    StationCall.objects.filter(pk=call.pk).update(sent_at=timezone.now() - timedelta(hours=1))
    assert tasks.reap_orphaned_calls.apply().get() == 1
    assert end_call(call, "Rejected") is None
    change.refresh_from_db()
    assert change.outcome == "Dropped"
    assert StationCredential.objects.get(station=station).pending_hash  # the new key not retired


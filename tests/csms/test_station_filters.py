"""The one station search behind the portal table and the API list (csms/station_filters.py)."""
import pytest

from csms.models import Station
from csms.station_filters import StationFilter
from tests.factories import make_station, make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet():
    acme = make_tenant("acme")
    make_station(acme, "CP-BERLIN-1", vendor="Alfen", model="Eve", ocpp_version="1.6", connected=True)
    make_station(acme, "CP-BERLIN-2", vendor="ABB", model="Terra", ocpp_version="2.0.1",
                 serial_number="SN-777")
    make_station(acme, "CP-MUNICH-1", origin="master", needs_unique_key=True, vendor="Alfen")
    return acme


def identities(params, tenant) -> list[str]:
    found = StationFilter(params, queryset=Station.objects.for_tenant(tenant))
    assert found.is_valid(), found.errors
    return [s.identity for s in found.qs]


def test_search_matches_identity_serial_vendor_and_model_without_case(fleet):
    assert identities({"q": "berlin"}, fleet) == ["CP-BERLIN-1", "CP-BERLIN-2"]
    assert identities({"q": "sn-77"}, fleet) == ["CP-BERLIN-2"]
    assert identities({"q": "alfen"}, fleet) == ["CP-BERLIN-1", "CP-MUNICH-1"]
    assert identities({"q": "  "}, fleet) == ["CP-BERLIN-1", "CP-BERLIN-2", "CP-MUNICH-1"]


def test_filters_combine(fleet):
    assert identities({"connected": "true"}, fleet) == ["CP-BERLIN-1"]
    assert identities({"ocpp_version": "2.0.1"}, fleet) == ["CP-BERLIN-2"]
    assert identities({"onboarding": "true"}, fleet) == ["CP-MUNICH-1"]
    assert identities({"onboarding": "false", "vendor": "alfen"}, fleet) == ["CP-BERLIN-1"]
    assert identities({"key_origin": "master"}, fleet) == ["CP-MUNICH-1"]


def test_ordering_is_stable_and_limited_to_named_fields(fleet):
    assert identities({"ordering": "-identity"}, fleet) == ["CP-MUNICH-1", "CP-BERLIN-2", "CP-BERLIN-1"]
    # Ties (equal vendors) fall back to the identity, so pages never repeat a station.
    assert identities({"ordering": "vendor"}, fleet) == ["CP-BERLIN-2", "CP-BERLIN-1", "CP-MUNICH-1"]
    refused = StationFilter({"ordering": "credential__current_hash"}, queryset=Station.objects.all())
    assert not refused.is_valid() and "ordering" in refused.errors


def test_bad_values_are_refused_not_ignored(fleet):
    found = StationFilter({"q": "x" * 101, "ocpp_version": "9"}, queryset=Station.objects.all())
    assert not found.is_valid()
    assert set(found.errors) == {"q", "ocpp_version"}


def test_only_the_given_tenants_stations(fleet):
    other = make_tenant("other")
    make_station(other, "CP-BERLIN-9")
    assert identities({"q": "berlin"}, fleet) == ["CP-BERLIN-1", "CP-BERLIN-2"]

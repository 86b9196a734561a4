"""The station identity rule: on the model, per protocol, shared by every writer."""
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from csms import credentials
from csms.models import KeyOrigin, Station
from csms.protocol import identity
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import station
from tests.waiting import async_eventually

BOTH = ["ocpp1.6", "ocpp2.0.1"]


@pytest.mark.parametrize("value, protocols", [
    ("CP001", BOTH), ("C" * 48, BOTH), ("a*b-c_d=e+f|g@h.i", BOTH), ("...", BOTH), (".CP", BOTH),
    ("RDAM 123", ["ocpp1.6"]), ("site/7", ["ocpp1.6"]), ("Müller-1", ["ocpp1.6"]), ("C" * 255, ["ocpp1.6"]),
])
def test_identities_a_station_of_these_protocols_may_have(value, protocols):
    assert identity.problems(value, protocols) == []


@pytest.mark.parametrize("value, protocols, problem", [
    ("", ["ocpp1.6"], "empty"),
    ("CP:1", ["ocpp1.6"], "may not contain ':'"),
    ("CP\n2", ["ocpp1.6"], "control characters (U+000A)"),
    ("CP\x001", ["ocpp1.6"], "control characters (U+0000)"),
    ("CP\u20281", ["ocpp1.6"], "control characters (U+2028)"),  # a line separator, as the labels rule says
    ("CP\u20291", ["ocpp1.6"], "control characters (U+2029)"),
    (" CP1", ["ocpp1.6"], "begins or ends with a space"),
    ("C" * 256, ["ocpp1.6"], "at most 255"),
    ("C" * 49, BOTH, "OCPP 2.0.1 allows 48"),
    ("RDAM 123", BOTH, "contains ' ': OCPP 2.0.1 allows only"),
    ("site/7", ["ocpp2.0.1"], "contains '/'"),
    (".", BOTH, "may not be '.'"),  # a URL resolves it away: the station's page is another's
    ("..", ["ocpp1.6"], "may not be '..'"),
])
def test_identities_refused(value, protocols, problem):
    assert any(problem in p for p in identity.problems(value, protocols))


@pytest.mark.django_db
def test_the_model_validates_the_identity_by_its_protocols():
    tenant = make_tenant("acme")
    with pytest.raises(ValidationError, match="may not contain"):
        Station(tenant=tenant, identity="a:b").full_clean()
    with pytest.raises(ValidationError, match="OCPP 2.0.1 allows 48"):
        Station(tenant=tenant, identity="C" * 49, allowed_protocols=BOTH).full_clean()
    Station(tenant=tenant, identity="C" * 49, allowed_protocols=["ocpp1.6"]).full_clean()


@pytest.mark.django_db
def test_registration_applies_the_rule_whoever_registers():
    tenant = make_tenant("acme")
    with pytest.raises(ValidationError, match="OCPP 2.0.1"):
        credentials.register_station(tenant, "RDAM 123", AL1000_KEY, KeyOrigin.INSTALLED)
    with pytest.raises(CommandError, match="'RDAM 123': identity contains ' ': OCPP 2.0.1 allows only"):
        call_command("station", "add", "acme", "RDAM 123", "--key", AL1000_KEY.hex())
    call_command("station", "add", "acme", "RDAM 123", "--key", AL1000_KEY.hex(), "--protocols", "ocpp1.6")
    with pytest.raises(CommandError, match="OCPP 2.0.1 allows only"):
        call_command("station", "set", "acme", "RDAM 123", "--protocols", "ocpp1.6,ocpp2.0.1")
    assert Station.objects.get().allowed_protocols == ["ocpp1.6"]


@pytest.mark.django_db(transaction=True)
def test_a_station_saved_before_the_rule_still_loads_and_connects(csms, run):
    legacy = "LEGACY-" + "X" * 60  # 67 characters: more than 2.0.1's 48
    row = make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    Station.objects.filter(pk=row.pk).update(identity=legacy)  # as an older release stored it
    assert Station.objects.get(pk=row.pk).identity == legacy
    call_command("station", "show", "acme", legacy)

    async def scenario():
        async with station(csms, "acme", legacy, AL1000_KEY, version="2.0.1"):
            await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)

    run(scenario())

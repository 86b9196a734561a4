"""`tenant set --emsp-id / --pnc-key-profile`: the eMSP's EMAID issuer part and key profile."""
import json

import pytest
from django.core.management.base import CommandError

from tenants.models import Tenant
from tests.commands import run_cmd
from tests.factories import make_tenant


@pytest.fixture
def emsp(db):
    return make_tenant("emsp", is_emsp=True)


def test_emsp_id_and_key_profile_are_set_and_shown(emsp):
    shown = json.loads(run_cmd("tenant", "set", "emsp", "--emsp-id", "de-8aa", "--pnc-key-profile", "compatible",
                               "--json"))
    assert shown["emsp_id"] == "DE-8AA"
    assert shown["pnc_key_profile"] == "compatible"
    emsp.refresh_from_db()
    assert (emsp.emsp_country_code, emsp.emsp_provider_id) == ("DE", "8AA")


def test_a_new_tenant_has_no_emsp_id_and_the_iso15118_2_profile(emsp):
    shown = json.loads(run_cmd("tenant", "set", "emsp", "--json"))
    assert shown["emsp_id"] is None
    assert shown["pnc_key_profile"] == Tenant.PncKeyProfile.ISO15118_2 == "iso15118-2"


@pytest.mark.parametrize("value", ["DE8AA", "D-8AA", "DE-8A", "DE-8AAA", "1E-8AA", "DE-8A_"])
def test_a_malformed_emsp_id_is_refused_and_nothing_changes(emsp, value):
    with pytest.raises(CommandError, match="COUNTRY-PROVIDER"):
        run_cmd("tenant", "set", "emsp", "--emsp-id", value)
    emsp.refresh_from_db()
    assert emsp.emsp_provider_id == ""

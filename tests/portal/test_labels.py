"""Labels an operator types (token labels, campaign names, client names, trust records,
station key ids, tenant names) refuse Unicode controls and invisible formatting
characters (`lib.labels`), with the same clear reason from a portal form, the REST API
and the CLI, and nothing is written: a right-to-left override or a newline in a name
would make the tables and the audit log show something other than what happened."""
import io

import pytest
from django.core.management import CommandError, call_command
from joserfc.jwk import ECKey

from csms.models import AuditEvent, RotationCampaign, StationLogin, StationToken
from lib import labels
from oauth.models import Client, TrustedKey
from tenants.models import Role, Tenant
from tests.factories import make_station, make_tenant
from tests.portal.people import signed_in

pytestmark = pytest.mark.django_db
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
LYING = [f"cabinet {RLO}4 tset", "cabinet\u2066 4", "zero\u200bwidth", "new\nline", "nul\x00", "esc\x1b[31m"]


@pytest.fixture
def acme():
    tenant = make_tenant("acme")
    make_station(tenant, "ACME-1")
    return tenant


@pytest.fixture
def operator(acme):
    return signed_in("olivia", (acme, Role.OPERATOR))


def public_pem() -> str:
    return ECKey.generate_key("P-256").as_pem(private=False).decode()


# --- the rule --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", LYING + ["\u00ad soft", "\ufeffbom", "\u200dzwj", "\u061c", "\u2028"])
def test_controls_and_formatting_characters_are_refused_with_the_character_named(text):
    with pytest.raises(labels.LabelError) as refused:
        labels.check(text, "label")
    assert str(refused.value).startswith("label: no control or invisible formatting characters (found U+")


@pytest.mark.parametrize("text", ["", "cabinet 4", "Ladesäule Süd", "محطة الشحن", "充電站 7", "⚡ fast", "a-b_c.d"])
def test_letters_of_any_script_and_symbols_are_labels(text):
    assert labels.check(text) == text


# --- portal forms ----------------------------------------------------------------------------

@pytest.mark.parametrize("label", LYING)
def test_the_token_form_refuses_a_lying_label(acme, operator, label):
    response = operator.post("/t/acme/stations/ACME-1/token-issue", {"label": label})
    assert response.status_code == 400
    assert "no control or invisible formatting characters" in response.content.decode()
    assert not StationToken.objects.exists() and not AuditEvent.objects.filter(action="token.issued").exists()


def test_the_campaign_form_refuses_a_lying_name(acme, operator):
    response = operator.post("/t/acme/campaigns/new", {"name": f"spring {RLO}gnipeews", "confirmed": "yes"})
    assert response.status_code == 400
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in response.content.decode()
    assert not RotationCampaign.objects.exists()


def test_the_station_key_form_refuses_a_lying_kid(acme, operator):
    response = operator.post("/t/acme/stations/ACME-1/key-add", {"public_key": public_pem(), "kid": f"k{RLO}1"})
    assert response.status_code == 400 and "U+202E" in response.content.decode()
    assert not TrustedKey.objects.exists()


@pytest.fixture
def emsp_admin():
    tenant = make_tenant("emsp", is_emsp=True, emsp_country_code="DE", emsp_provider_id="8AA")
    return signed_in("alice", (tenant, Role.ADMIN))


def test_the_client_and_trust_forms_refuse_lying_names(emsp_admin):
    response = emsp_admin.post("/t/emsp/oauth/clients/new", {
        "client_id": "backend", "name": f"Backend {RLO}lanretni", "grant_types": "client_credentials",
        "auth_method": "client_secret_basic"})
    assert response.status_code == 400 and "name: no control or invisible formatting" in response.content.decode()
    assert not Client.objects.exists()
    emsp_admin.post("/t/emsp/oauth/clients/new", {"client_id": "backend", "grant_types": "client_credentials",
                                                  "auth_method": "client_secret_basic"})
    trust = emsp_admin.post("/t/emsp/oauth/trust/new", {
        "client_id": "backend", "issuer": "https://b.example/", "subject": f"S{RLO}", "kid": "k1",
        "public_key": public_pem(), "algorithms": "ES256"})
    assert trust.status_code == 400 and "subject: no control or invisible formatting" in trust.content.decode()


# --- the REST API ----------------------------------------------------------------------------

def test_the_api_refuses_lying_labels_as_field_errors(acme, operator):
    base = "/api/v1/tenants/acme/"
    token = operator.post(base + "stations/ACME-1/tokens/", {"label": f"x{RLO}"}, content_type="application/json")
    assert token.status_code == 400 and "U+202E" in token.content.decode() and "label" in token.json()["errors"]
    campaign = operator.post(base + "campaigns/", {"name": "a\u200bb", "stations": ["ACME-1"]},
                             content_type="application/json")
    assert campaign.status_code == 400 and "U+200B ZERO WIDTH SPACE" in campaign.content.decode()
    key = operator.post(base + "stations/ACME-1/keys/", {"public_key": public_pem(), "kid": "k\u2067"},
                        content_type="application/json")
    assert key.status_code == 400 and "U+2067" in key.content.decode()
    assert not StationToken.objects.exists() and not RotationCampaign.objects.exists()
    assert not TrustedKey.objects.exists()


# --- the CLI ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["station", "token", "issue", "acme", "ACME-1", "--label", f"x{RLO}"], "label: no control"),
    (["rotation", "campaign", "start", "acme", "ACME-1", "--name", f"x{RLO}"], "name: no control"),
    (["station", "key", "add", "acme", "ACME-1", "--kid", f"k{RLO}"], "kid: no control"),
    (["tenant", "add", "lying", "--name", f"Acme {RLO}"], "name: no control"),
    (["station", "login", "add", "acme", "ACME-1", f"depot{RLO}7"], "login: no control"),
    (["tenant", "set", "acme", "--name", "Acme\n2"], "name: no control"),
])
def test_the_commands_refuse_lying_labels(acme, tmp_path, args, message):
    if "key" in args:
        pem = tmp_path / "key.pem"
        pem.write_text(public_pem())
        args = [*args, str(pem)]
    with pytest.raises(CommandError, match=message):
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not StationToken.objects.exists() and not RotationCampaign.objects.exists()
    assert not TrustedKey.objects.exists() and not Tenant.objects.filter(slug="lying").exists()
    assert not StationLogin.objects.exists()
    assert Tenant.objects.get(slug="acme").name != "Acme\n2"


def test_the_oauth_command_refuses_a_lying_client_name():
    make_tenant("emsp", is_emsp=True, emsp_country_code="DE", emsp_provider_id="8AA")
    with pytest.raises(CommandError, match="name: no control or invisible formatting characters"):
        call_command("oauth", "client", "add", "emsp", "backend", "--name", f"B{RLO}", "--grant",
                     "client_credentials", stdout=io.StringIO())
    assert not Client.objects.exists()

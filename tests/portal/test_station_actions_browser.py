"""The station actions in Chromium, at 1280 and 390 px: a station's authentication page
(methods, a token shown once, a bad public key), registering a station, importing a CSV
file to 100 %, and the dashboard's chart of refused handshakes. Every page passes
axe-core and fits a phone (`check_page`); screenshots land in test-output/portal/."""
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from csms import auth_audit
from tenants.models import Membership, Role
from tests import browser
from tests.factories import make_station, make_tenant
from tests.portal.test_portal_browser import PASSWORD, check_page, signed_in_page

pytestmark = pytest.mark.django_db(transaction=True)
IDENTITY = "CP-AUTH-" + "W" * 40  # 48 characters: it must wrap on a phone


@pytest.fixture
def chromium(csms):
    acme = make_tenant("acme", name="Acme Charging")
    station = make_station(acme, IDENTITY, bytes(range(20)), origin="generated")
    decision = auth_audit.Decision(acme.pk, station.pk, "basic", "challenged", "wrong credentials", "192.0.2.7")
    auth_audit.write({decision: auth_audit._Seen(3, timezone.now(), timezone.now())})
    user = get_user_model().objects.create_user("olivia", password=PASSWORD)
    Membership.objects.create(user=user, tenant=acme, role=Role.OPERATOR)
    with browser.chromium() as started:  # after the rows: its event loop keeps the ORM out of this thread
        yield started


@pytest.mark.timeout(300)
@pytest.mark.parametrize("width", [1280, 390])
def test_operator_manages_a_stations_authentication_registers_and_imports(csms, chromium, width, tmp_path):
    page = signed_in_page(chromium, csms, width)
    page.wait_for_selector("text=stations connected")
    assert "challenged · basic" in page.inner_text("#auth-failures-kind-data")
    check_page(page, f"{width}-dashboard-failures")

    page.goto(f"{csms.http}/t/acme/stations/{IDENTITY}/")
    page.get_by_role("link", name="Methods, tokens, TOTP and public keys").click()
    page.wait_for_selector("h2:has-text('Tokens')")
    check_page(page, f"{width}-station-auth")

    page.get_by_label("Label").fill("cabinet 4")
    page.get_by_role("button", name="Issue a token").click()
    secret = page.inner_text("[data-testid=secret]")
    assert secret.startswith("cgt_")
    check_page(page, f"{width}-token-shown-once")
    page.get_by_role("link", name="Done: back to its authentication").click()
    page.wait_for_selector("text=cabinet 4")
    assert secret not in page.content()

    page.get_by_label("Choice 1").select_option("token")
    page.get_by_label("Choice 2").select_option("basic")
    page.get_by_role("button", name="Set the station's methods").click()
    page.wait_for_selector("text=Set: token, basic (from station).")

    page.get_by_role("textbox", name="Public key").fill("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----")
    page.get_by_role("button", name="Register the key").click()
    page.wait_for_selector("text=Not registered")
    check_page(page, f"{width}-station-auth-bad-key")

    page.goto(f"{csms.http}/t/acme/stations/")
    page.get_by_role("link", name="Register a station").click()
    page.get_by_label("Identity").fill(f"CP-NEW-{width}")
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("[data-testid=secret]")
    check_page(page, f"{width}-station-registered")

    csv = tmp_path / "fleet.csv"
    csv.write_text("identity,key\n" + "".join(f"CP-IMP-{width}-{n:04},{n:040x}\n" for n in range(1, 501)))
    page.goto(f"{csms.http}/t/acme/stations/")
    page.get_by_role("link", name="Import a CSV file").click()
    check_page(page, f"{width}-station-import")
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_label("the keys were drawn at random").check()
    page.get_by_role("button", name="Check and import").click()
    page.wait_for_selector("[data-testid=import-summary]", timeout=60_000)
    assert "100 %" in page.inner_text("[data-testid=import-done]")
    assert "Imported 500 stations" in page.inner_text("[data-testid=import-summary]")
    check_page(page, f"{width}-station-import-done")

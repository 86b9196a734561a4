"""An operator's journeys through the portal in Chromium: sign in, choose and switch
tenants, find one station among thousands, rotate its key and watch the real station
take it. Every page passes axe-core (no serious or critical violation) and fits a
390-pixel-wide screen; screenshots land in test-output/portal/."""
import asyncio
import threading
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from csms import connection_log, credentials
from csms.models import AuditEvent, KeyOrigin, Station, StationCredential
from csms.protocol import recent
from tenants.models import Membership, Role
from tests import browser
from tests import keyed_station as ks
from tests.factories import AL1000_KEY, make_station, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "tests" / "vendor" / "axe.min.js"
SHOTS = REPO / "test-output" / "portal"
PASSWORD = "portal-browser-pw-1"
FLEET = 3000
LONG_IDENTITY = "CP-A" + "W" * 44  # 48 characters, OCPP 2.0.1's longest identifierString


def seed_fleet(tenant, count: int) -> None:
    """Thousands of stations the way `station import` writes them: in bulk, all with one
    platform-drawn key's cheap hash (no argon2 per row)."""
    key_hash = credentials.hash_for(bytes(range(20)), KeyOrigin.GENERATED)
    rows = [credentials.registration_rows(tenant, f"CP-HAMBURG-{n:05d}", key_hash, KeyOrigin.GENERATED,
                                          vendor="Acme Power", model="Wallbox 22")
            for n in range(count)]
    rows.append(credentials.registration_rows(tenant, LONG_IDENTITY, key_hash, KeyOrigin.GENERATED))
    stations, creds, events = zip(*rows, strict=True)
    Station.objects.bulk_create(stations, batch_size=500)
    StationCredential.objects.bulk_create(creds, batch_size=500)
    AuditEvent.objects.bulk_create(events, batch_size=500)


@pytest.fixture
def portal_data(csms):
    acme, other = make_tenant("acme", name="Acme Charging"), make_tenant("other", name="Other Power")
    seed_fleet(acme, FLEET)
    make_station(acme, "CP-BERLIN-0815", AL1000_KEY, vendor="Acme Power", model="Pillar 50")
    make_station(other, "OTHER-1")
    user = get_user_model().objects.create_user("olivia", password=PASSWORD)
    Membership.objects.create(user=user, tenant=acme, role=Role.OPERATOR)
    Membership.objects.create(user=user, tenant=other, role=Role.VIEWER)
    return acme


class RunningStation:
    """The real station behind CP-BERLIN-0815, in its own thread and event loop: it
    connects, boots, stores any key it is sent and reconnects with it."""

    def __init__(self, server):
        self.station = ks.KeyedStation(server, "acme", "CP-BERLIN-0815", AL1000_KEY, behaviour=ks.APPLY)
        self.stop = threading.Event()
        self.booted = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self):
        await self.station.connect()
        await self.station.boot()
        self.booted.set()
        while not self.stop.is_set():
            await asyncio.sleep(0.1)
        await self.station.disconnect()

    def __enter__(self):
        self.thread.start()
        assert self.booted.wait(30), "the station never booted"
        return self.station

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)


@pytest.fixture
def chromium(portal_data):
    with browser.chromium() as started:
        yield started


def check_page(page, name: str) -> None:
    """axe-core finds no serious or critical violation, nothing scrolls sideways, and a
    screenshot is kept."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]}))
        .violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))""")
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, f"{name}: {serious}"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        f"{name} scrolls sideways at {page.viewport_size['width']} px"


def sign_in(page, server) -> None:
    page.goto(f"{server.http}/")
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def signed_in_page(chromium, server, width: int):
    """A new page `width` pixels wide, olivia signed in."""
    page = chromium.new_page(viewport={"width": width, "height": 900})
    sign_in(page, server)
    return page


@pytest.mark.timeout(300)  # a real browser, a real station and 3,000 rows, on a shared machine
def test_operator_finds_a_station_among_thousands_and_rotates_it(csms, chromium, tasks_run):
    with RunningStation(csms) as station:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{csms.http}/")
        check_page(page, "01-sign-in")
        sign_in(page, csms)

        page.wait_for_selector("h1:has-text('Choose a tenant')")  # a member of two tenants chooses
        check_page(page, "02-choose-tenant")
        page.get_by_role("link", name="Acme Charging").click()
        page.wait_for_selector("text=of 3002 stations connected")
        page.wait_for_selector("canvas")  # the charts drew
        assert page.locator("[data-testid=connected]").inner_text() == "1"
        check_page(page, "03-dashboard")

        page.get_by_text("Switch tenant").click()
        page.get_by_role("link", name="Other Power").click()
        page.wait_for_selector("h1:has-text('Other Power')")
        assert "(viewer)" in page.inner_text("header")
        page.get_by_text("Switch tenant").click()
        page.get_by_role("link", name="Acme Charging").click()

        page.get_by_role("link", name="Stations", exact=True).click()
        page.wait_for_selector("text=3002 stations, page 1 of 31")
        check_page(page, "04-stations")
        page.get_by_label("Search").fill("berlin")
        page.wait_for_selector("p.count:text-is('1 station')")  # the table updated in place
        page.wait_for_function("location.search.includes('q=berlin')")  # and the address with it
        assert page.locator("table.stations tbody tr").count() == 1
        check_page(page, "05-stations-search")

        page.get_by_role("link", name="CP-BERLIN-0815").click()
        page.wait_for_selector("h1:has-text('CP-BERLIN-0815')")
        assert "connected" in page.inner_text("#station-live")
        check_page(page, "06-station")
        page.get_by_role("button", name="Rotate key now").click()
        page.wait_for_selector("text=queued")
        # The page follows the change while the station takes the key and reconnects.
        page.locator("[data-testid=change-state]").first.filter(has_text="succeeded").wait_for(timeout=60_000)
        assert page.locator("[data-testid=key-phase]").inner_text() == "idle"
        check_page(page, "07-station-rotated")
        assert "olivia" in page.locator("[data-testid=change-state]").first.locator("xpath=..").inner_text()
        assert station.password != AL1000_KEY  # the station holds its new key
        rotated_once = station.password

        # A small campaign over the same station, watched to its end.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
        page.get_by_role("link", name="Start a campaign").click()
        page.get_by_label("Search").fill("CP-BERLIN")
        page.get_by_label("Name").fill("berlin")
        page.get_by_label("Canary").fill("1")
        page.get_by_role("button", name="Review and start…").click()
        page.wait_for_selector("text=Rotate the keys of 1 station?")
        page.get_by_role("button", name="Yes, go ahead").click()
        page.locator("[data-testid=campaign-state]").filter(has_text="Completed").wait_for(timeout=60_000)
        assert page.inner_text("[data-testid=campaign-done]") == "1 of 1 (100 %)"
        assert page.inner_text("[data-testid=campaign-failed]") == "0"
        # Finished under the page: it is drawn again, with the outcome and no buttons left.
        page.locator("[data-testid=member-state]").filter(has_text="Succeeded").wait_for(timeout=10_000)
        assert page.get_by_role("button", name="Pause").count() == 0
        check_page(page, "08-campaign-completed")
        assert station.password not in (AL1000_KEY, rotated_once)


@pytest.fixture
def long_strings(portal_data):
    """The long-identity station with a User-Agent of 200 characters without a space and
    a connection whose frames have the longest message ids and actions kept."""
    long_station = Station.objects.get(identity=LONG_IDENTITY)
    long_station.last_user_agent = "Firmware/" + "9" * 191
    long_station.save(update_fields=["last_user_agent"])
    connection_log.opened(long_station.pk, portal_data.pk, 1, "n.1", method="basic", source="2001:db8::1234:5678",
                          user_agent=long_station.last_user_agent)
    ring = recent.Ring()
    for _ in range(recent.SIZE):
        ring.record(recent.IN, recent.CALL, "A" * 60, "m" * 40, 65_000, "rejected by schema (" + "P" * 80 + ")")
    connection_log.write_messages({(long_station.pk, 1): ring.snapshot()})


@pytest.mark.timeout(300)
def test_pages_fit_a_phone_and_long_identities_wrap(csms, long_strings, chromium):
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    sign_in(page, csms)
    page.get_by_role("link", name="Acme Charging").click()
    page.wait_for_selector("text=stations connected")
    check_page(page, "phone-dashboard")
    page.goto(f"{csms.http}/t/acme/stations/")
    page.wait_for_selector(f"text={LONG_IDENTITY}")
    check_page(page, "phone-stations")
    page.get_by_role("link", name=LONG_IDENTITY).click()
    page.wait_for_selector("h2:has-text('Credential')")
    check_page(page, "phone-station")
    page.get_by_role("button", name="Reset…").click()
    page.wait_for_selector("text=Yes, go ahead")  # a destructive action asks first
    check_page(page, "phone-confirm-reset")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_selector("h2:has-text('Credential')")
    page.keyboard.press("Tab")  # the first stop is the skip link, and it shows
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    # Primary and destructive buttons differ by more than colour: filled vs outlined, and "…".
    looks = [page.get_by_role("button", name=name).evaluate(
        "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]") for name in ("Rotate key now", "Reset…")]
    assert looks[0] != looks[1] and looks[1][0] == "rgb(255, 255, 255)", looks
    # The keyboard alone reaches and presses a destructive action, and it still asks first.
    page.get_by_role("button", name="Reset…").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Yes, go ahead")


PENDING_IDENTITY = "CP-PENDING-" + "Q" * 37  # 48 characters too


@pytest.fixture
def operations_data(portal_data):
    """An onboarding hold, a station set Pending and one on a series key (rows written
    before the browser starts, whose event loop keeps the ORM out of this thread)."""
    portal_data.onboarding_held_since = portal_data.created_at
    portal_data.save(update_fields=["onboarding_held_since"])
    make_station(portal_data, PENDING_IDENTITY, bytes(range(20)), origin="generated", registration_status="Pending")
    make_station(portal_data, "CP-SERIES-1", AL1000_KEY, origin="master", needs_unique_key=True)
    return portal_data


@pytest.mark.timeout(300)
@pytest.mark.parametrize("width", [1280, 390])
def test_operator_runs_onboarding_a_campaign_and_reads_the_audit_log(csms, operations_data, chromium, width):
    page = signed_in_page(chromium, csms, width)
    page.get_by_role("link", name="Acme Charging").click()
    page.wait_for_selector("text=stations connected")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Onboarding").click()
    page.wait_for_selector("text=Onboarding is held")
    assert "2 stations waiting" in page.inner_text("[data-testid=waiting-count]")
    check_page(page, f"{width}-onboarding")
    page.get_by_role("button", name="Release the hold…").click()
    page.wait_for_selector("text=Yes, go ahead")  # releasing asks first
    check_page(page, f"{width}-onboarding-confirm-release")
    page.get_by_role("button", name="Yes, go ahead").click()
    page.wait_for_selector("text=Onboarding is open")
    page.get_by_role("button", name=f"Approve {PENDING_IDENTITY}").click()
    page.wait_for_selector(f"text={PENDING_IDENTITY} approved")
    assert "1 station waiting" in page.inner_text("[data-testid=waiting-count]")
    check_page(page, f"{width}-onboarding-approved")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    page.wait_for_selector("h1:has-text('Rotation campaigns')")
    check_page(page, f"{width}-campaigns-empty")
    page.get_by_role("link", name="Start a campaign").click()
    page.get_by_label("Search").fill("CP-A")  # the long identity only
    page.get_by_label("Name").fill("long names")
    page.get_by_label("Canary").fill("1")
    check_page(page, f"{width}-campaign-new")
    page.get_by_role("button", name="Review and start…").click()
    page.wait_for_selector("text=Rotate the keys of 1 station?")
    page.get_by_role("button", name="Yes, go ahead").click()
    page.wait_for_selector("[data-testid=campaign-state]")
    assert "Running" in page.inner_text("[data-testid=campaign-state]")
    page.get_by_role("link", name=LONG_IDENTITY).wait_for()
    check_page(page, f"{width}-campaign")
    page.get_by_role("button", name="Pause").click()
    page.wait_for_selector("text=paused.")
    assert "Paused" in page.inner_text("[data-testid=campaign-state]")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    page.wait_for_selector("text=long names")
    check_page(page, f"{width}-campaigns")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_label("Actor").fill("olivia")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_selector("table.audit >> text=campaign.paused")  # (the action menu names it too)
    text = page.inner_text("table.audit")
    assert "onboarding.released" in text and "onboarding.accepted" in text and "campaign.started" in text
    assert "UTC" in text
    check_page(page, f"{width}-audit")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = Path(download.value.path()).read_text()
    assert exported.startswith("at,actor,action,station,outcome,detail") and "campaign.paused" in exported


LONG_CLIENT_ID = "emsp-backend." + "x" * 87  # 100 characters, the longest client id
SECRET_SHOWN = "[data-testid=client-secret]"


@pytest.fixture
def oauth_chromium(csms):
    """An eMSP whose administrator has no client yet (rows before the browser starts)."""
    from oauth import signing_keys
    from pnc import authorities

    emsp = make_tenant("emsp", name="Emsp Mobility Ünited", is_emsp=True, operates_charging_stations=False,
                       emsp_country_code="DE", emsp_provider_id="8AA")
    signing_keys.rotate(emsp, at_once=True)
    authorities.initialise(emsp, "setup")
    user = get_user_model().objects.create_user("olivia", password=PASSWORD)
    Membership.objects.create(user=user, tenant=emsp, role=Role.ADMIN)
    with browser.chromium() as started:
        yield started


@pytest.mark.timeout(300)
@pytest.mark.parametrize("width", [1280, 390])
def test_admin_registers_an_oauth_client_and_sees_its_secret_once(csms, oauth_chromium, width):
    page = oauth_chromium.new_page(viewport={"width": width, "height": 900})
    sign_in(page, csms)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="OAuth").click()
    page.wait_for_selector("h1:has-text('OAuth clients')")
    check_page(page, f"{width}-oauth-clients-empty")
    page.get_by_role("link", name="Register a client").click()
    page.get_by_label("Client id").fill(LONG_CLIENT_ID)
    page.get_by_label("Name").fill("The eMSP's backend " + "with a very long name " * 8)
    page.get_by_label("client_credentials").check()
    page.get_by_label("Scopes").fill("emsp:read emsp:write")
    check_page(page, f"{width}-oauth-client-new")
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector(SECRET_SHOWN)
    secret = page.locator(SECRET_SHOWN).input_value()
    assert len(secret) >= 64
    check_page(page, f"{width}-oauth-client-secret")
    page.get_by_role("link", name="Go to the client").click()
    page.wait_for_selector("text=only its hash is kept")
    assert secret not in page.content() and page.locator(SECRET_SHOWN).count() == 0
    check_page(page, f"{width}-oauth-client")
    for url, name in [("oauth/trust/", "trust"), ("oauth/signing-keys/", "signing-keys"), ("people/", "people"),
                      ("pnc/contracts/", "contracts"), ("pnc/authorities/", "authorities")]:
        page.goto(f"{csms.http}/t/emsp/{url}")
        check_page(page, f"{width}-oauth-{name}")


LONG_EMSP_NAME = ("Ladesäulen- und Elektromobilitätsgesellschaft Österreich–Ελλάδα–Česká republika " * 2)[:100]


@pytest.fixture
def ca_chromium(csms):
    """An eMSP with a 100-character name in several scripts and no MO PKI yet, and its
    administrator."""
    emsp = make_tenant("emsp", name=LONG_EMSP_NAME, is_emsp=True, operates_charging_stations=False,
                       emsp_country_code="AT", emsp_provider_id="8AA")
    user = get_user_model().objects.create_user("olivia", password=PASSWORD)
    Membership.objects.create(user=user, tenant=emsp, role=Role.ADMIN)
    with browser.chromium() as started:
        yield started


@pytest.mark.timeout(300)
@pytest.mark.parametrize("width", [1280, 390])
def test_admin_creates_rolls_over_and_activates_the_mo_pki(csms, ca_chromium, width, tmp_path):
    page = ca_chromium.new_page(viewport={"width": width, "height": 900})
    sign_in(page, csms)
    page.goto(f"{csms.http}/t/emsp/pnc/authorities/")
    page.wait_for_selector("h2:has-text('Import an existing PKI')")
    check_page(page, f"{width}-ca-empty")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    page.get_by_label("Certificates").set_input_files(str(notes))
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector("[data-testid=import-error]")
    assert "notes.txt: no PEM certificate or private key in it" in page.locator("[data-testid=import-error]").inner_text()
    check_page(page, f"{width}-ca-import-refused")
    page.get_by_role("button", name="Create the MO PKI").click()
    page.wait_for_selector("text=The MO PKI is created")
    assert page.locator("[data-testid=ca-card]").count() == 3
    check_page(page, f"{width}-ca-created")
    page.get_by_label("the root (a whole new hierarchy)").check()
    page.get_by_label("Staged").check()
    page.get_by_role("button", name="Roll over…").click()
    page.wait_for_selector("text=Yes, go ahead")  # a rollover asks first
    check_page(page, f"{width}-ca-confirm-rollover")
    page.get_by_role("button", name="Yes, go ahead").click()
    page.wait_for_selector("text=is staged")
    check_page(page, f"{width}-ca-staged")
    page.get_by_role("button", name="Activate…").focus()  # the keyboard alone activates, after asking
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Yes, go ahead")
    page.keyboard.press("Enter")  # the confirmation's button has the focus
    page.wait_for_selector("text=issues contract certificates now")
    assert page.locator("[data-testid=ca-card]").count() == 6 and page.get_by_role("button", name="Retire…").count() == 3
    check_page(page, f"{width}-ca-activated")

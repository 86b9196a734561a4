"""The portal's station list (issue 12): paged on the server, 100 a page in a stable
order, searched and filtered with the REST API's filter set, one tenant's stations only."""
import re

import pytest

from csms.models import Station
from tenants.models import Role
from tests.factories import make_tenant
from tests.portal.people import signed_in

pytestmark = pytest.mark.django_db
IDENTITY = re.compile(r'class="identity"><a href="[^"]+">([^<]+)</a>')


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def viewer():
    acme, other = make_tenant("acme"), make_tenant("other")
    Station.objects.bulk_create([Station(tenant=acme, identity=f"CP-{n:05d}", vendor="Alfen" if n % 2 else "ABB",
                                         connected=n % 10 == 0) for n in range(250)])
    Station.objects.bulk_create([Station(tenant=other, identity=f"OTHER-{n}") for n in range(5)])
    return signed_in("viewer", (acme, Role.VIEWER))


def identities(response) -> list[str]:
    assert response.status_code == 200
    return IDENTITY.findall(response.content.decode())


def test_pages_of_100_cover_every_station_once_in_order(viewer):
    pages = [identities(viewer.get("/t/acme/stations/", {"page": n})) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [100, 100, 50]
    assert sum(pages, []) == [f"CP-{n:05d}" for n in range(250)]
    assert "250 stations, page 2 of 3" in viewer.get("/t/acme/stations/", {"page": 2}).content.decode()
    assert identities(viewer.get("/t/acme/stations/", {"page": 99})) == pages[2]  # past the end: the last


def test_filters_are_the_apis_and_the_pager_keeps_them(viewer):
    page = viewer.get("/t/acme/stations/", {"vendor": "Alfen"}).content.decode()
    assert "125 stations, page 1 of 2" in page and "vendor=Alfen&amp;page=2" in page
    found = identities(viewer.get("/t/acme/stations/", {"q": "cp-0012", "connected": "true"}))
    assert found == ["CP-00120"]
    refused = viewer.get("/t/acme/stations/", {"connected": "ture"}).content.decode()
    assert "connected:" in refused and not IDENTITY.findall(refused)  # an error, never "all stations"


def test_the_search_box_asks_for_the_table_part_only(viewer):
    part = viewer.get("/t/acme/stations/", {"q": "CP-0024"},
                      headers={"HX-Request": "true", "HX-Target": "station-results"}).content.decode()
    assert "<html" not in part and IDENTITY.findall(part) == [f"CP-0024{n}" for n in range(10)]

"""The portal's long lists read a page's keys first, then its rows (lib/paging.py): the
same pages, in the same order, with their joins, as Django's Paginator gives."""
import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from csms.models import Station
from lib.paging import KeysFirstPaginator
from tests.factories import make_station, make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def stations():
    tenant = make_tenant("acme")
    for i in range(25):
        make_station(tenant, f"CP-{(i * 7) % 25:03d}")
    return Station.objects.for_tenant(tenant).select_related("credential").order_by("-identity", "id")


def test_every_page_holds_what_djangos_paginator_holds_in_its_order(stations):
    ours, django_s = KeysFirstPaginator(stations, 10), Paginator(stations, 10)
    assert ours.count == 25 and ours.num_pages == 3
    for number in (1, 2, 3):
        assert [s.identity for s in ours.page(number)] == [s.identity for s in django_s.page(number)]
    assert [s.identity for s in ours.get_page(3)] == ["CP-004", "CP-003", "CP-002", "CP-001", "CP-000"]
    assert [s.identity for s in ours.get_page("not a number")] == [s.identity for s in django_s.page(1)]


def test_a_page_is_two_queries_and_its_joins_come_with_it(stations):
    paginator = KeysFirstPaginator(stations, 10)
    paginator.count  # noqa: B018  (counted once, as Django's does)
    with CaptureQueriesContext(connection) as queries:
        page = paginator.page(2)
        hashes = [s.credential.current_hash for s in page]
    assert len(queries.captured_queries) == 2
    assert "LIMIT 10 OFFSET 10" in queries.captured_queries[0]["sql"]
    assert len(hashes) == 10 and all(hashes)


def test_an_empty_list_has_one_empty_page(stations):
    page = KeysFirstPaginator(stations.none(), 10).get_page(1)
    assert list(page) == [] and page.paginator.num_pages == 1

"""An idTag is found with one probe of the tenant's (tenant, LOWER(id_tag)) index, on
SQLite and PostgreSQL alike: the lookup runs on the writer that every station's writes
share (csms/group_commit.py), and a scan of 300,000 tags there stalled the whole process
(review of issue 9's group commit)."""
import pytest
from django.db import connection

from csms.handlers.base import id_tags_matching, lookup_id_tag
from tests.factories import make_id_tag, make_station, make_tenant

pytestmark = pytest.mark.django_db


def plan_of(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # "could it use the index at all?"
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(row) for row in cursor.fetchall())


def test_the_lookup_probes_the_case_insensitive_unique_index(django_assert_num_queries):
    tenant = make_tenant()
    station = make_station(tenant, "CP1")
    make_id_tag(tenant, "04E1A2B3")
    with django_assert_num_queries(1):
        assert lookup_id_tag(station, "04e1a2b3").id_tag == "04E1A2B3"
    assert "id_tag_per_tenant" in plan_of(id_tags_matching(tenant, "04e1a2b3"))


@pytest.mark.parametrize("sent", ["04E1A2B3", "04e1a2b3", "04E1a2B3"])
def test_any_case_finds_the_tag_and_another_tag_is_not_found(sent):
    tenant = make_tenant()
    station = make_station(tenant, "CP1")
    make_id_tag(tenant, "04E1A2B3")
    make_id_tag(make_tenant("other"), "FFFF0000")
    assert lookup_id_tag(station, sent).id_tag == "04E1A2B3"
    assert lookup_id_tag(station, "FFFF0000") is None  # another tenant's
    assert lookup_id_tag(station, "04E1A2B") is None

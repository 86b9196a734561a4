"""Prepared read queries (lib/prepared.py) give exactly what the queryset would, in one
statement, and refuse shapes whose parameters they could not place."""
import pytest
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from csms.models import Station, StationCall
from lib.prepared import Many, Prepared, padded
from oauth.models import SigningKey
from tenants.models import Tenant
from tests.factories import make_station, make_tenant

pytestmark = pytest.mark.django_db


def station_query(slug, identity):
    return (Station.objects.select_related("tenant", "credential")
            .filter(tenant__slug=slug, tenant__operates_charging_stations=True, identity=identity)
            .order_by("pk")[:1])


by_identity = Prepared(station_query, slug=str, identity=str)


def fields(obj, *related):
    """Every concrete field value of a model instance and of its select_related objects."""
    out = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
    for name in related:
        rel = getattr(obj, name)
        out[name] = {f.attname: getattr(rel, f.attname) for f in rel._meta.concrete_fields}
    return out


def test_model_rows_with_select_related_equal_the_querysets(django_assert_num_queries):
    acme, other = make_tenant("acme"), make_tenant("other")
    make_station(acme, "CP1")
    make_station(other, "CP1")
    Station.objects.filter(identity="CP1").update(connected_at=timezone.now(), connected=True)
    for slug in ("acme", "other"):
        expected = station_query(slug, "CP1")[0]
        with django_assert_num_queries(1):
            got = by_identity.first(slug=slug, identity="CP1")
        assert fields(got, "tenant", "credential") == fields(expected, "tenant", "credential")
        assert got.tenant.slug == slug and got._state.db == "default" and not got._state.adding
    assert by_identity(slug="acme", identity="nobody") == []
    assert by_identity.first(slug="nobody", identity="CP1") is None


def test_a_parameter_used_twice_and_an_annotation_are_placed():
    tenant = make_tenant("acme", is_emsp=True)
    kid = SigningKey.objects.filter(tenant=OuterRef("pk"), kid__isnull=False).order_by("-pk").values("kid")[:1]
    q = Prepared(lambda slug: Tenant.objects.filter(slug=slug).exclude(name=slug).annotate(
        kid=Subquery(kid))[:1], slug=str)
    [got] = q(slug="acme")
    assert got.pk == tenant.pk and got.kid is None


def test_values_list_rows_flat_and_not():
    tenant = make_tenant("acme")
    station = make_station(tenant, "CP1")
    for state in (StationCall.State.QUEUED, StationCall.State.SENT, StationCall.State.QUEUED):
        StationCall.objects.create(tenant=tenant, station=station, action="Reset", payload={}, state=state)
    flat = Prepared(lambda station_id: StationCall.objects.filter(
        station_id=station_id, state=StationCall.State.QUEUED).order_by("pk").values_list("pk", flat=True),
        station_id=int)
    pairs = Prepared(lambda station_id: StationCall.objects.filter(station_id=station_id).order_by("pk")
                     .values_list("pk", "created_at"), station_id=int)
    assert flat(station_id=station.pk) == list(StationCall.objects.filter(
        station=station, state="queued").order_by("pk").values_list("pk", flat=True))
    assert pairs(station_id=station.pk) == list(StationCall.objects.filter(station=station).order_by("pk")
                                                .values_list("pk", "created_at"))
    assert pairs(station_id=station.pk + 1000) == []


def test_a_list_parameter_compiles_once_and_answers_as_the_in_lookup(django_assert_num_queries):
    tenant = make_tenant("acme")
    stations = [make_station(tenant, f"CP{i}") for i in range(5)]
    StationCall.objects.create(tenant=tenant, station=stations[1], action="Reset", payload={})
    among = Prepared(lambda ids, slug: Station.objects.filter(pk__in=ids, tenant__slug=slug).order_by("pk")
                     .values_list("pk", "identity"), ids=Many(int, 3), slug=str)
    for ids in ([stations[0].pk], [stations[4].pk, stations[2].pk], [s.pk for s in stations[1:4]]):
        with django_assert_num_queries(1):
            got = among(ids=padded(ids, 3), slug="acme")
        assert got == list(Station.objects.filter(pk__in=ids).order_by("pk").values_list("pk", "identity"))
    assert among(ids=padded([stations[0].pk], 3), slug="other") == []
    assert among(ids=[-1, -2, -3], slug="acme") == []


def test_a_list_parameter_takes_exactly_its_count_of_integers():
    among = Prepared(lambda ids: Station.objects.filter(pk__in=ids), ids=Many(int, 3))
    for wrong in ([1, 2], [1, 2, 3, 4], [1, 2, "3"], [1, 2, True], 1):
        with pytest.raises(TypeError):
            among(ids=wrong)
    with pytest.raises(TypeError):
        Many(str, 3)
    with pytest.raises(ValueError):
        padded([], 3)
    with pytest.raises(ValueError):
        padded([1, 2, 3, 4], 3)
    assert padded([7, 8], 4) == [7, 8, 8, 8]


@pytest.mark.parametrize("build, types, problem", [
    (lambda slug: Tenant.objects.filter(slug__startswith=slug), {"slug": str}, "transformed|unchanged"),
    (lambda slug: Tenant.objects.filter(name__contains=slug), {"slug": str}, "transformed|unchanged"),
    (lambda slug: Tenant.objects.filter(slug=slug).values("pk"), {"slug": str}, "not prepared"),
    (lambda slug: Tenant.objects.all(), {"slug": str}, "does not reach"),
])
def test_shapes_whose_parameters_cannot_be_placed_are_refused(build, types, problem):
    with pytest.raises(TypeError, match=problem):
        Prepared(build, **types)(**{name: "x" for name in types})


def test_parameters_are_checked():
    with pytest.raises(TypeError, match="only str and int"):
        Prepared(lambda when: Tenant.objects.filter(created_at=when), when=object)
    q = Prepared(lambda pk: Tenant.objects.filter(pk=pk), pk=int)
    with pytest.raises(TypeError, match="must be int"):
        q(pk=True)
    with pytest.raises(TypeError, match="expected parameters"):
        q(id=1)


def test_a_case_insensitive_lookup_is_refused_or_exact():
    # SQLite escapes the value into a LIKE pattern (refused); PostgreSQL compares UPPER()s
    # in SQL, which holds for any value put in its place.
    make_tenant("acme")
    make_tenant("a_me")
    q = Prepared(lambda slug: Tenant.objects.filter(slug__iexact=slug).order_by("pk").values_list(
        "slug", flat=True), slug=str)
    try:
        for value in ("ACME", "a_me", "a%", "A_ME"):
            assert q(slug=value) == list(Tenant.objects.filter(slug__iexact=value).order_by("pk")
                                         .values_list("slug", flat=True))
    except TypeError as exc:
        assert "transformed" in str(exc) or "unchanged" in str(exc)


def test_a_nul_in_a_value_finds_nothing_as_the_orm_answers(django_assert_num_queries):
    make_tenant("acme")
    assert list(Tenant.objects.filter(slug="ac\x00me")) == []
    with django_assert_num_queries(0):
        assert by_identity(slug="acme\x00", identity="CP1") == []

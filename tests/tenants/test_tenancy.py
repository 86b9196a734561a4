"""Tenants, roles and the helpers that keep every query inside one tenant."""
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404

from csms.models import Station
from tenants.models import Membership, Role
from tenants.scoping import require_role, tenant_by_slug, tenants_of
from tests.factories import make_station, make_tenant

pytestmark = pytest.mark.django_db


def user(name, **kw):
    return get_user_model().objects.create_user(name, password="pw-123456789", **kw)


def test_for_tenant_returns_only_that_tenants_rows():
    acme, other = make_tenant("acme"), make_tenant("other")
    make_station(acme, "CP1")
    make_station(other, "CP1")  # the same identity may exist in two tenants
    assert [s.tenant.slug for s in Station.objects.for_tenant(acme)] == ["acme"]
    assert Station.objects.for_tenant(other).count() == 1


def test_roles_include_the_ones_below():
    acme = make_tenant("acme")
    viewer = Membership.objects.create(user=user("v"), tenant=acme, role=Role.VIEWER)
    admin = Membership.objects.create(user=user("a"), tenant=acme, role=Role.ADMIN)
    assert viewer.allows(Role.VIEWER) and not viewer.allows(Role.OPERATOR)
    assert admin.allows(Role.OPERATOR) and admin.allows(Role.ADMIN)


def test_require_role_refuses_outsiders_and_weaker_roles():
    acme, other = make_tenant("acme"), make_tenant("other")
    operator = user("op")
    Membership.objects.create(user=operator, tenant=acme, role=Role.OPERATOR)
    require_role(operator, acme, Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        require_role(operator, acme, Role.ADMIN)
    with pytest.raises(PermissionDenied):
        require_role(operator, other, Role.VIEWER)
    assert list(tenants_of(operator)) == [acme]
    superuser = user("root", is_superuser=True)
    require_role(superuser, other, Role.ADMIN)
    assert set(tenants_of(superuser)) == {acme, other}


def test_tenant_by_slug_is_404_for_unknown():
    make_tenant("acme")
    assert tenant_by_slug("acme").slug == "acme"
    with pytest.raises(Http404):
        tenant_by_slug("nope")


def test_id_tags_are_unique_per_tenant_regardless_of_case():
    from django.db import IntegrityError, transaction

    from tests.factories import make_id_tag

    acme, other = make_tenant("acme"), make_tenant("other")
    make_id_tag(acme, "04E1A2B3")
    make_id_tag(other, "04e1a2b3")  # another tenant may hold the same token
    with pytest.raises(IntegrityError), transaction.atomic():
        make_id_tag(acme, "04e1a2b3")

"""Adversarial checks of the portal's pages added with issue 12 and after: what an
administrator of one tenant, or anyone lower, must not be able to do to another
tenant's people and objects through a form."""
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tenants.models import Membership, Role
from tests.factories import make_tenant
from tests.portal.people import PASSWORD, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


def can_sign_in(username: str, password: str) -> bool:
    return Client().login(username=username, password=password)


@pytest.mark.parametrize("victim_is_superuser", [False, True])
def test_an_administrator_cannot_set_the_password_of_an_existing_account(victim_is_superuser):
    ours, theirs = make_tenant("ours"), make_tenant("theirs")
    admin = signed_in("our-admin", (ours, Role.ADMIN))
    victim = get_user_model().objects.create_user("their-admin", password=PASSWORD,
                                                  is_superuser=victim_is_superuser, is_staff=victim_is_superuser)
    Membership.objects.create(user=victim, tenant=theirs, role=Role.ADMIN)

    answer = admin.post("/t/ours/people/add", {"username": "their-admin", "role": "viewer",
                                               "password": "Hijacked-pass-2026!"})

    assert answer.status_code == 400
    assert "already has an account" in answer.content.decode()
    assert can_sign_in("their-admin", PASSWORD) and not can_sign_in("their-admin", "Hijacked-pass-2026!")
    assert not Membership.objects.filter(user=victim, tenant=ours).exists()  # nothing done


def test_an_existing_account_still_gets_a_role_without_a_password():
    ours, theirs = make_tenant("ours"), make_tenant("theirs")
    admin = signed_in("our-admin", (ours, Role.ADMIN))
    someone = get_user_model().objects.create_user("someone", password=PASSWORD)
    Membership.objects.create(user=someone, tenant=theirs, role=Role.OPERATOR)

    assert admin.post("/t/ours/people/add", {"username": "someone", "role": "viewer"}).status_code == 302
    assert Membership.objects.get(user=someone, tenant=ours).role == Role.VIEWER
    assert can_sign_in("someone", PASSWORD)

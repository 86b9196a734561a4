"""Portal users for tests: a signed-in test client with the given memberships."""
from django.contrib.auth import get_user_model
from django.test import Client

from tenants.models import Membership

PASSWORD = "pw-123456789-portal"


def signed_in(username: str, *memberships) -> Client:
    user = get_user_model().objects.create_user(username, password=PASSWORD)
    for tenant, role in memberships:
        Membership.objects.create(user=user, tenant=tenant, role=role)
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client

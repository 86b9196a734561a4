"""Station writes committed together (csms/group_commit.py): each call in a savepoint of
its batch, so one failing call is rolled back alone, and everyone is answered after the
commit."""
import asyncio

import pytest
from django.db import transaction

from csms import group_commit
from csms.models import Station
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failing_call_is_rolled_back_alone_and_the_others_commit():
    tenant = make_tenant()
    committed = []

    def create(identity):
        station = Station.objects.create(tenant=tenant, identity=identity)
        transaction.on_commit(lambda: committed.append(identity))
        return station.pk

    def create_then_fail(identity):
        Station.objects.create(tenant=tenant, identity=identity)
        raise ValueError("refused")

    async def scenario():
        calls = [group_commit.run(create, f"CP{i}") for i in range(50)]
        calls.insert(25, group_commit.run(create_then_fail, "BAD"))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(scenario())
    assert isinstance(results[25], ValueError)
    assert sum(isinstance(r, int) for r in results) == 50
    assert set(Station.objects.values_list("identity", flat=True)) == {f"CP{i}" for i in range(50)}
    assert sorted(committed) == sorted(f"CP{i}" for i in range(50))  # after the commit, not for BAD


def test_a_caller_that_gave_up_does_not_break_the_batch():
    tenant = make_tenant()

    async def scenario():
        slow = asyncio.ensure_future(group_commit.run(Station.objects.create, tenant=tenant, identity="A"))
        slow.cancel()
        return await group_commit.run(lambda: Station.objects.create(tenant=tenant, identity="B").identity)

    assert asyncio.run(scenario()) == "B"
    assert Station.objects.filter(identity="B").exists()

"""A PreparedInsert writes the row `save()` would write, on both databases, and refuses
what it cannot do as `save()` does it."""
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, models, transaction
from django.db.models import signals
from django.forms.models import model_to_dict
from django.utils import timezone
from oauth2_provider.models import set_token_value

from csms.models import Station
from lib.prepared_insert import PreparedInsert
from oauth.models import AccessToken, UsedAssertion
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db


def stored(model, pk):
    return model_to_dict(model.objects.get(pk=pk))


def access_token(tenant, jti):
    record = AccessToken(tenant=tenant, jti=jti, subject="CONSUMER_1", scope="uic_osdm",
                         expires=timezone.now() + timedelta(minutes=5), authorization_details=[{"type": "x"}])
    set_token_value(record, f"token-{jti}")
    return record


def test_the_row_is_the_one_save_writes_with_its_key_and_computed_fields():
    tenant = make_tenant("as1")
    saved = access_token(tenant, "a" * 32)
    saved.save()
    inserted = PreparedInsert(AccessToken)(access_token(tenant, "b" * 32))
    assert inserted.pk is not None and inserted.pk != saved.pk
    assert not inserted._state.adding and inserted._state.db == "default"
    ours, theirs = stored(AccessToken, inserted.pk), stored(AccessToken, saved.pk)
    for row in (ours, theirs):
        row.pop("id")
    assert ours.pop("jti") == "b" * 32 and theirs.pop("jti") == "a" * 32
    # the checksum a custom field computes in pre_save, as save() computes it
    found = AccessToken.objects.get(pk=inserted.pk)
    assert found.token_checksum and found.token_checksum != AccessToken.objects.get(pk=saved.pk).token_checksum
    ours.pop("token_checksum"), theirs.pop("token_checksum"), ours.pop("token"), theirs.pop("token")
    ours.pop("expires"), theirs.pop("expires")
    assert ours == theirs  # every other column alike: tenant, scope, JSON, nulls, defaults
    assert found.created is not None  # auto_now_add filled in


def test_a_unique_violation_is_an_integrity_error_the_transaction_survives():
    tenant = make_tenant("as2")
    insert = PreparedInsert(UsedAssertion)
    row = dict(tenant=tenant, issuer="seed", jti="j1", expires_at=timezone.now() + timedelta(minutes=1))
    insert(UsedAssertion(**row))
    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic():
            insert(UsedAssertion(**row))
        insert(UsedAssertion(**{**row, "jti": "j2"}))
    assert sorted(UsedAssertion.objects.values_list("jti", flat=True)) == ["j1", "j2"]


def test_a_rolled_back_transaction_keeps_nothing():
    tenant = make_tenant("as3")
    with pytest.raises(RuntimeError), transaction.atomic():
        PreparedInsert(UsedAssertion)(UsedAssertion(tenant=tenant, issuer="seed", jti="gone",
                                                    expires_at=timezone.now()))
        raise RuntimeError
    assert not UsedAssertion.objects.exists()


def test_what_save_would_do_and_this_cannot_is_refused():
    tenant = make_tenant("as4")
    insert = PreparedInsert(UsedAssertion)

    def receiver(**kwargs):
        pass

    signals.post_save.connect(receiver, sender=UsedAssertion)
    try:
        with pytest.raises(TypeError, match="signal"):
            insert(UsedAssertion(tenant=tenant, issuer="i", jti=str(uuid.uuid4()), expires_at=timezone.now()))
    finally:
        signals.post_save.disconnect(receiver, sender=UsedAssertion)
    with pytest.raises(ValueError, match="already has a key"):
        insert(UsedAssertion(pk=5, tenant=tenant, issuer="i", jti="k", expires_at=timezone.now()))
    with pytest.raises(TypeError, match="expected"):
        insert(Station())

    class OwnSave(models.Model):
        class Meta:
            app_label = "tests"

        def save(self, *args, **kwargs):
            super().save(*args, **kwargs)

    with pytest.raises(TypeError, match="own save"):
        PreparedInsert(OwnSave)
    assert not UsedAssertion.objects.exists()

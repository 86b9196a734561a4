"""Small builders for test data: real rows, real argon2 hashes."""
from csms.auth.keys import hash_key
from csms.models import IdTag, Station
from tenants.models import Tenant

AL1000_KEY = bytes.fromhex("0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF")


def make_tenant(slug="acme", **fields) -> Tenant:
    fields.setdefault("name", slug.title())
    return Tenant.objects.create(slug=slug, **fields)


def make_station(tenant, identity="CP001", key: bytes = AL1000_KEY, **fields) -> Station:
    return Station.objects.create(tenant=tenant, identity=identity, key_hash=hash_key(key), **fields)


def make_id_tag(tenant, id_tag="TAG1", **fields) -> IdTag:
    return IdTag.objects.create(tenant=tenant, id_tag=id_tag, **fields)

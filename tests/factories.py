"""Small builders for test data: real rows, real argon2 hashes."""
from csms.credentials import register_station
from csms.models import IdTag, Station
from tenants.models import Tenant

AL1000_KEY = bytes.fromhex("0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF")


def make_tenant(slug="acme", **fields) -> Tenant:
    fields.setdefault("name", slug.title())
    return Tenant.objects.create(slug=slug, **fields)


def make_station(tenant, identity="CP001", key: bytes = AL1000_KEY, origin="installed",
                 needs_unique_key=False, **fields) -> Station:
    station = register_station(tenant, identity, key, origin, needs_unique_key=needs_unique_key,
                               **fields)
    return Station.objects.select_related("tenant", "credential").get(pk=station.pk)


def make_id_tag(tenant, id_tag="TAG1", **fields) -> IdTag:
    return IdTag.objects.create(tenant=tenant, id_tag=id_tag, **fields)


_UNANSWERED = {"CallError": "error", "Timeout": "timeout", "Dropped": "lost"}


def end_call(call, outcome, version="ocpp1.6"):
    """End a sent credential call as the consumer does (`lifecycle.settle`): answered with
    `outcome` as the station's status, or ended without an answer (CallError, Timeout,
    Dropped)."""
    from csms import lifecycle
    from csms.rotation import Outcome

    outcome = Outcome(outcome)
    if outcome.value in _UNANSWERED:
        return lifecycle.settle(call.pk, call.station_id, call.purpose, _UNANSWERED[outcome.value], version)
    if version == "ocpp1.6":
        response = {"status": outcome.value}
    else:
        response = {"setVariableResult": [{"attributeStatus": outcome.value,
                                           "component": {"name": "SecurityCtrlr"},
                                           "variable": {"name": "BasicAuthPassword"}}]}
    return lifecycle.settle(call.pk, call.station_id, call.purpose, "answered", version, response=response)

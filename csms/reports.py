"""2.0.1 NotifyReport: the reported device-model variables, stored in bulk.

One upsert per report part instead of one `update_or_create` (SELECT + INSERT or
UPDATE, each its own transaction) per attribute: a 3,000-entry report took 6-12 s
that way, holding the station's database thread all along.
"""
from django.db import transaction
from django.utils import timezone

from .models import ReportedVariable, Station

# The unique constraint `one_value_per_variable_attribute`, which the upsert targets.
KEY_FIELDS = ("station", "component", "component_instance", "evse_id", "connector_id",
              "variable", "variable_instance", "attribute_type")
VALUE_FIELDS = ("value", "mutability", "characteristics", "report_request_id", "updated_at")


def reported_attributes(payload: dict) -> dict[tuple, dict]:
    """Each reported attribute's key (KEY_FIELDS after `station`) → its stored fields.

    Keyed, so that an attribute reported twice in one part keeps its later entry: an
    upsert statement may not touch one row twice (PostgreSQL refuses).
    """
    rows = {}
    for item in payload.get("reportData", []):
        component, variable = item["component"], item["variable"]
        evse = component.get("evse") or {}
        for attribute in item["variableAttribute"]:
            key = (component["name"], component.get("instance", ""), evse.get("id", 0),
                   evse.get("connectorId", 0), variable["name"], variable.get("instance", ""),
                   attribute.get("type", "Actual"))
            rows[key] = {"value": attribute.get("value", ""),
                         "mutability": attribute.get("mutability", ""),
                         "characteristics": item.get("variableCharacteristics", {}),
                         "report_request_id": payload["requestId"]}
    return rows


def store_report(station: Station, payload: dict) -> None:
    now = timezone.now()
    objects = [
        ReportedVariable(tenant=station.tenant, station=station, updated_at=now,
                         **dict(zip(KEY_FIELDS[1:], key, strict=True)), **fields)
        for key, fields in reported_attributes(payload).items()
    ]
    with transaction.atomic():  # one part is stored whole or not at all
        ReportedVariable.objects.bulk_create(
            objects, update_conflicts=True, unique_fields=KEY_FIELDS, update_fields=VALUE_FIELDS)

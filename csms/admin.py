from django.contrib import admin

from .models import (
    ConnectorStatus,
    IdTag,
    MeterValue,
    ReportedVariable,
    Station,
    StationCall,
    StationEvent,
    Transaction,
)


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = ["identity", "tenant", "connected", "ocpp_version", "registration_status",
                    "vendor", "model", "last_boot_at"]
    list_filter = ["tenant", "connected", "registration_status", "ocpp_version"]
    search_fields = ["identity", "serial_number"]
    # The key hash is not editable here: keys are set with `station add` or rotated.
    # Methods are set with `station auth set`, which checks them and strands no station.
    readonly_fields = ["connected", "connection_id", "connected_at", "disconnected_at",
                       "last_seen_at", "last_heartbeat_at", "last_boot_at", "auth_methods",
                       "last_auth_method"]


admin.site.register(IdTag, list_display=["id_tag", "tenant", "status", "expires_at"])
admin.site.register(Transaction, list_display=["pk", "station", "id_tag", "started_at",
                                               "stopped_at", "energy_wh"])
admin.site.register(ConnectorStatus, list_display=["station", "evse_id", "connector_id",
                                                   "status", "reported_at"])
admin.site.register(StationEvent, list_display=["station", "kind", "summary", "received_at"])
admin.site.register(StationCall, list_display=["station", "action", "state", "created_at"])
admin.site.register(MeterValue, list_display=["station", "transaction", "timestamp"])
admin.site.register(ReportedVariable, list_display=["station", "component", "variable", "value"])

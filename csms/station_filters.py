"""Finding stations among a fleet: the one search, filter and ordering rule behind the
portal's station table, the REST API's station list and anything else that lists them.

A django-filter FilterSet, so the REST API uses it through `DjangoFilterBackend` and the
portal by hand (`StationFilter(request.GET, queryset=…).qs`), and both answer the same
query string the same way. Every filter is a plain column comparison on the station or
its credential row, so a page of 100,000 stations stays one indexed scan plus a count.
"""
from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from lib.filters import StrictBooleanFilter

from .models import KeyOrigin, RegistrationStatus, Station

SEARCH_MAX_LENGTH = 100  # bounded work per request: a search term longer than any field is refused


class Onboarding(StrictBooleanFilter):
    """Stations still on a series (master or factory) key, whose boots are answered Pending
    until they hold a unique key — what `effective_registration` calls Pending."""

    def filter(self, qs, value):
        if value is None:
            return qs
        on_series_key = Q(credential__needs_unique_key=True)
        return qs.filter(on_series_key) if value else qs.exclude(on_series_key)


class StationFilter(filters.FilterSet):
    q = filters.CharFilter(method="search", max_length=SEARCH_MAX_LENGTH,
                           label="identity, serial number, vendor or model contains")
    connected = StrictBooleanFilter()
    ocpp_version = filters.ChoiceFilter(choices=[("1.6", "1.6"), ("2.0.1", "2.0.1")])
    registration = filters.ChoiceFilter(field_name="registration_status", choices=RegistrationStatus.choices,
                                        label="registration setting")
    onboarding = Onboarding(label="on a series key, answered Pending until it holds a unique key")
    last_auth_method = filters.CharFilter(lookup_expr="iexact", max_length=16,
                                          label="the method its latest connection proved itself with")
    key_origin = filters.ChoiceFilter(field_name="credential__current_origin", choices=KeyOrigin.choices)
    rotation_phase = filters.CharFilter(field_name="credential__phase", max_length=16)
    vendor = filters.CharFilter(lookup_expr="iexact", max_length=50)
    model = filters.CharFilter(lookup_expr="iexact", max_length=50)
    firmware_version = filters.CharFilter(max_length=50)
    ordering = filters.OrderingFilter(fields=(
        ("identity", "identity"), ("last_seen_at", "last_seen"), ("connected_at", "connected_at"),
        ("last_boot_at", "last_boot"), ("vendor", "vendor"), ("model", "model"),
        ("credential__current_since", "key_since"),
    ))

    class Meta:
        model = Station
        fields: list[str] = []  # every filter is declared above, with its own bounds

    def search(self, qs: QuerySet, _name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(Q(identity__icontains=value) | Q(serial_number__icontains=value)
                         | Q(vendor__icontains=value) | Q(model__icontains=value))

    @property
    def qs(self):
        # A stable order whatever was asked, so pages never repeat or skip a station.
        chosen = super().qs
        return chosen.order_by(*chosen.query.order_by, "identity", "pk")

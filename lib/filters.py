"""django-filter pieces the APIs share.

`StrictBooleanFilter`: django-filter's REST BooleanFilter reads anything but true/false
as "no filter", so `connected=ture` listed every station — and a campaign started over
such a filter would rotate the whole fleet. This one refuses what it cannot read (400).

`InstantFilter`: an ISO 8601 instant that exists in UTC. django-filter's own reads
`9999-12-31T23:59:59-23:59`, which the database adapter then fails to turn into UTC
(OverflowError, a 500); this one refuses it (400).
"""
from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


class StrictBooleanField(forms.Field):
    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise ValidationError("true or false", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class InstantField(IsoDateTimeField):
    def to_python(self, value):
        """The instant in UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 and
        Python take."""
        instant = super().to_python(value)
        if instant is not None and instant.tzinfo is not None:
            try:
                instant = instant.astimezone(UTC)
            except OverflowError:
                raise ValidationError("an instant between the years 1 and 9999 in UTC", code="invalid") from None
        return instant


class InstantFilter(django_filters.IsoDateTimeFilter):
    field_class = InstantField

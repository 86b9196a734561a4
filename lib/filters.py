"""django-filter pieces the APIs share.

`StrictBooleanFilter`: django-filter's REST BooleanFilter reads anything but true/false
as "no filter", so `connected=ture` listed every station — and a campaign started over
such a filter would rotate the whole fleet. This one refuses what it cannot read (400).
"""
import django_filters
from django import forms
from django.core.exceptions import ValidationError

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

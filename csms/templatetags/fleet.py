"""How the portal writes times: always with their time zone (an operator's stations and
colleagues are rarely in one), machine-readable in `<time datetime>`, and ages in words."""
from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def when(value, empty: str = "never"):
    if not value:
        return format_html('<span class="muted">{}</span>', empty)
    local = timezone.localtime(value)
    return format_html('<time datetime="{}">{}</time>', local.isoformat(), local.strftime("%Y-%m-%d %H:%M:%S %Z"))


@register.filter
def age(value):
    """"3 days" for a moment in the past; a dash where there is none."""
    return timesince(value, depth=1) if value else "–"

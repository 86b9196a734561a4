"""Shared bits of the management commands: finding the tenant named on the command line,
and printing `--json` output the same way everywhere."""
import json

from django.core.management.base import CommandError

from lib.timestamps import json_default

from .models import Tenant


def tenant_or_error(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandError(f"no tenant {slug!r}")
    return tenant


def dump_json(value) -> str:
    # Instants in the platform's one format (lib.timestamps); decimals as text.
    return json.dumps(value, indent=2, default=json_default)

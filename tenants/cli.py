"""Shared bits of the management commands: finding the tenant named on the command line,
printing `--json` output the same way everywhere, and confirming what cannot be undone."""
import json
import sys

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


def removal_arguments(parser, *positionals: str) -> None:
    """The arguments every `... remove` subcommand takes: what to remove, `--yes`, `--json`."""
    for name in positionals:
        parser.add_argument(name)
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--json", action="store_true")


def confirm(question: str, yes: bool) -> None:
    """Ask before something that cannot be undone; `--yes` answers for a script. Without a
    terminal to ask on, nothing is done unless `--yes` was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(f"{question} Not confirmed: give --yes (no terminal to ask on)")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise CommandError("not confirmed; nothing changed")

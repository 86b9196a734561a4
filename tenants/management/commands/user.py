"""`manage.py user add|list|remove <tenant> ...`: the people of a tenant and their roles."""
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tenants import people
from tenants.cli import confirm, dump_json, removal_arguments, tenant_or_error
from tenants.models import Membership, Role


class Command(BaseCommand):
    help = "Manage tenant users (operators in the portal, drivers on consent screens)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add a user to a tenant (or give an existing one a role)")
        add.add_argument("tenant")
        add.add_argument("username")
        add.add_argument("--role", choices=Role.values, required=True)
        add.add_argument("--email", default="")
        add.add_argument("--password-stdin", action="store_true",
                         help="read the password from standard input (never from the command line)")
        add.add_argument("--json", action="store_true")
        lst = sub.add_parser("list", help="the tenant's users and their roles")
        lst.add_argument("tenant")
        lst.add_argument("--json", action="store_true")
        rm = sub.add_parser("remove", help="take a user out of a tenant (the account stays: it may "
                                           "belong to other tenants, and a driver's contracts keep it)")
        removal_arguments(rm, "tenant", "username")

    def handle(self, *args, action, tenant, json=False, **opts):
        out, text = getattr(self, f"do_{action}")(tenant_or_error(tenant), **opts)
        self.stdout.write(dump_json(out) if json else text)

    def do_add(self, t, username, role, email, password_stdin, **_):
        password = sys.stdin.readline().rstrip("\n") if password_stdin else None
        if password is None and not get_user_model().objects.filter(username=username).exists():
            raise CommandError("a new user needs a password: give --password-stdin")
        try:
            _, created = people.add_member(t, username, role, email=email, password=password,
                                              may_replace_password=True, sees_every_account=True)
        except people.PeopleError as exc:
            raise CommandError(str(exc)) from None
        out = {"username": username, "tenant": t.slug, "role": role, "created": created}
        return out, f"{username} is {role} of {t.slug}" + (" (new user)" if created else "")

    def do_list(self, t, **_):
        rows = [{"username": m.user.username, "role": m.role, "active": m.user.is_active}
                for m in Membership.objects.filter(tenant=t).select_related("user").order_by("user__username")]
        return rows, "\n".join(f"{r['username']}\t{r['role']}" + ("" if r["active"] else "\t(inactive)")
                               for r in rows) or f"no users in {t.slug}"

    def do_remove(self, t, username, yes, **_):
        membership = Membership.objects.filter(tenant=t, user__username=username).select_related("user").first()
        if membership is None:
            raise CommandError(f"no user {username!r} in {t.slug}")
        confirm(f"Take {username} ({membership.role}) out of {t.slug}?", yes)
        others = people.remove_member(membership)
        out = {"username": username, "tenant": t.slug, "removed": True, "other_tenants": others}
        return out, (f"{username} is no longer a user of {t.slug}"
                     + (f" (still in {others} other tenant(s))" if others else
                        "; the account remains, in no tenant (the Django admin deletes it)"))

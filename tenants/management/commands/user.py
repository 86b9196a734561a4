"""`manage.py user add <tenant> <username> --role ROLE --password-stdin`."""
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tenants.cli import dump_json, tenant_or_error
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

    def handle(self, *args, action, tenant, username, role, email, password_stdin, json=False, **_):
        t = tenant_or_error(tenant)
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        password = sys.stdin.readline().rstrip("\n") if password_stdin else None
        if user is None and password is None:
            raise CommandError("a new user needs a password: give --password-stdin")
        if password is not None:
            try:
                validate_password(password, user or User(username=username, email=email))
            except ValidationError as exc:
                raise CommandError("password refused: " + " ".join(exc.messages)) from None
        with transaction.atomic():
            created = user is None
            if created:
                user = User.objects.create_user(username, email=email, password=password)
            elif password is not None:
                user.set_password(password)
                user.save(update_fields=["password"])
            Membership.objects.update_or_create(user=user, tenant=t, defaults={"role": role})
        out = {"username": username, "tenant": tenant, "role": role, "created": created}
        self.stdout.write(dump_json(out) if json else
                          f"{username} is {role} of {tenant}" + (" (new user)" if created else ""))

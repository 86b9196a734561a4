"""The people of a tenant and their roles: adding one (or giving an existing user a
role) and taking one out. `manage.py user` and the portal's People page call these."""
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Membership, Role, Tenant


class PeopleError(ValueError):
    pass


def add_member(tenant: Tenant, username: str, role: str, *, email: str = "",
               password: str | None = None, may_replace_password: bool = False) -> tuple[Membership, bool]:
    """Give `username` the `role` in `tenant`, creating the account if there is none (it
    then needs a password). A password for an existing account is refused unless
    `may_replace_password` (the CLI, run by the platform's operators): an account may
    belong to other tenants or be a superuser, and one tenant's administrator setting
    its password would take it over. Returns the membership and whether it is new."""
    if role not in Role.values:
        raise PeopleError(f"role must be one of {', '.join(Role.values)}")
    if not username.strip():
        raise PeopleError("a user needs a name")
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None and password is None:
        raise PeopleError("a new user needs a password")
    if user is None:
        _check_new_account(User, username, email)
    if user is not None and password is not None and not may_replace_password:
        raise PeopleError(f"{username} already has an account, with its own password: give the role "
                          "without a password")
    if password is not None:
        try:
            validate_password(password, user or User(username=username, email=email))
        except ValidationError as exc:
            raise PeopleError("password refused: " + " ".join(exc.messages)) from None
    with transaction.atomic():
        created = user is None
        if created:
            user = User.objects.create_user(username, email=email, password=password)
        elif password is not None:
            user.set_password(password)
            user.save(update_fields=["password"])
        membership, _ = Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
    return membership, created


def _check_new_account(User, username: str, email: str) -> None:
    """The rules of the model's own fields (Django's forms apply them; `create_user` does
    not): a username of at most 150 letters, digits and @.+-_, an e-mail address that is
    one. SQLite would store anything; PostgreSQL refuses a longer one or a NUL (a 500)."""
    for field, value in (("username", username), ("email", email)):
        if field == "email" and not value:
            continue
        try:
            User._meta.get_field(field).clean(value, None)
        except ValidationError as exc:
            raise PeopleError(f"{field}: " + " ".join(exc.messages)) from None


def remove_member(membership: Membership) -> int:
    """Take the user out of the tenant; the account stays (it may belong to other
    tenants, and a driver's contracts keep it). Returns how many tenants it is still in."""
    membership.delete()
    return Membership.objects.filter(user=membership.user).count()

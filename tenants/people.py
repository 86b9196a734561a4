"""The people of a tenant and their roles: adding one (or giving an existing user a
role) and taking one out. `manage.py user` and the portal's People page call these;
each change is audited (`tenants.audit`)."""
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from . import audit
from .models import Membership, Role, Tenant


class PeopleError(ValueError):
    pass


# The one answer to a name the administrator may not see, whether an account has it or
# not: another tenant's accounts are not theirs to discover (docs/security.md).
NO_SUCH_ACCOUNT = ("no account was given the role: to add an existing account, give its name and its "
                   "e-mail address without a password; to create one, give a name no account has and a password")


def add_member(tenant: Tenant, username: str, role: str, *, email: str = "", password: str | None = None,
               may_replace_password: bool = False, sees_every_account: bool = False,
               actor: str = "cli") -> tuple[Membership, bool]:
    """Give `username` the `role` in `tenant`, creating the account if there is none (it
    then needs a password). Returns the membership and whether the account is new.

    Accounts are global, so a tenant's administrator may neither take one over nor learn
    which exist: an existing account they do not already see in the tenant is given the
    role only with its own e-mail address (someone who adds a colleague knows it), and
    every other answer about such a name is `NO_SUCH_ACCOUNT`, word for word, whether
    the name is taken or free. A password for an existing account is refused unless
    `may_replace_password`. The CLI, run by the platform's operators, who see every
    account, passes both flags."""
    if role not in Role.values:
        raise PeopleError(f"role must be one of {', '.join(Role.values)}")
    if not username.strip():
        raise PeopleError("a user needs a name")
    User = get_user_model()
    if password is not None:  # checked on what was typed, before looking the name up
        _check_new_account(User, username, email)
        _check_password(password, User(username=username, email=email))
    user = User.objects.filter(username=username).first()
    known = user is not None and (sees_every_account or Membership.objects.filter(user=user, tenant=tenant).exists())
    if user is not None and not known and (password is not None or not _same_address(user, email)):
        raise PeopleError(NO_SUCH_ACCOUNT)
    if user is None and password is None:
        raise PeopleError("a new user needs a password" if sees_every_account else NO_SUCH_ACCOUNT)
    if user is not None and password is not None and not may_replace_password:
        raise PeopleError(f"{username} already has an account, with its own password: give the role "
                          "without a password")
    with transaction.atomic():
        created = user is None
        if created:
            user = User.objects.create_user(username, email=email, password=password)
        elif password is not None:
            user.set_password(password)
            user.save(update_fields=["password"])
        before = Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True).first()
        membership, _ = Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
        if before is None:
            audit.record(tenant, actor, "people.added", role, username=username, new_account=created)
        elif before != role:
            audit.record(tenant, actor, "people.role_changed", role, username=username, previous=before)
        if password is not None and not created:
            audit.record(tenant, actor, "people.password_replaced", username=username)
    return membership, created


def _same_address(user, email: str) -> bool:
    return bool(user.email) and user.email.strip().casefold() == email.strip().casefold()


def _check_password(password: str, user) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise PeopleError("password refused: " + " ".join(exc.messages)) from None


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


def remove_member(membership: Membership, *, actor: str = "cli") -> int:
    """Take the user out of the tenant; the account stays (it may belong to other
    tenants, and a driver's contracts keep it). Returns how many tenants it is still in."""
    with transaction.atomic():
        membership.delete()
        audit.record(membership.tenant_id, actor, "people.removed", membership.role,
                     username=membership.user.get_username())
    return Membership.objects.filter(user=membership.user).count()

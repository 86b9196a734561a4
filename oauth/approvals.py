"""A user's approvals: the authorizations they gave clients on the consent screen that
still hold tokens, and withdrawing one (its tokens revoked, the apps told)."""
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from . import rar, scope_words
from .grants import revoke_issued_from
from .models import AccessToken, Grant, RefreshToken
from .signals import approval_withdrawn


@dataclass(frozen=True)
class Approval:
    grant: Grant
    scopes: list  # scope_words.Scope: each code with its words
    details: list[dict]  # rar.describe(): what the consent screen showed


def in_force(user, tenant):
    """The user's approvals in the tenant that a client can still use: a code not yet
    exchanged, or live tokens. Newest first."""
    now = timezone.now()
    live_access = AccessToken.objects.filter(grant=OuterRef("pk"), expires__gt=now)
    live_refresh = RefreshToken.objects.filter(grant=OuterRef("pk"), revoked__isnull=True).filter(
        Q(family_expires_at__gt=now) | Q(family_expires_at__isnull=True))
    return (Grant.objects.for_tenant(tenant).filter(user=user).select_related("application")
            .filter(Q(used_at__isnull=True, expires__gt=now) | Exists(live_access) | Exists(live_refresh))
            .order_by("-created", "-id"))


def describe(grant: Grant) -> Approval:
    return Approval(grant, scope_words.described(grant.scope.split()), rar.describe(grant.authorization_details))


def withdraw(grant: Grant, actor: str) -> None:
    """End the approval: an unexchanged code can no longer be, its tokens are revoked
    (refresh families included), and receivers of `approval_withdrawn` end the rest."""
    with transaction.atomic():
        Grant.objects.filter(pk=grant.pk, expires__gt=timezone.now()).update(expires=timezone.now())
        revoke_issued_from(grant)
        approval_withdrawn.send(sender=Grant, grant=grant, actor=actor)

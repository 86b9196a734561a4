"""Deleting what the authorization server no longer needs: expired pushed requests,
codes, tokens and spent jtis. Nothing here is needed for a decision once expired, so
the tables stay the size of the live traffic."""
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import AccessToken, Grant, PushedRequest, RefreshToken, UsedAssertion


def purge_expired(now=None) -> dict[str, int]:
    now = now or timezone.now()
    interaction = timedelta(seconds=settings.OAUTH["INTERACTION_SECONDS"])
    refresh_life = timedelta(seconds=settings.OAUTH["REFRESH_TOKEN_SECONDS"])
    counts = {
        # An opened request lives on until the driver's decision window closes.
        "pushed_requests": PushedRequest.objects.filter(
            Q(opened_at__isnull=True, expires_at__lt=now) | Q(opened_at__lt=now - interaction)).delete()[0],
        "used_assertions": UsedAssertion.objects.filter(expires_at__lt=now).delete()[0],
        "refresh_tokens": RefreshToken.objects.filter(
            # Revoked ones stay until their family expires: a replay must still be seen.
            Q(family_expires_at__lt=now)
            | Q(family_expires_at__isnull=True, created__lt=now - refresh_life)).delete()[0],
        "access_tokens": AccessToken.objects.filter(expires__lt=now).delete()[0],
    }
    # A used code is kept while its tokens may still be live, so that a replay can
    # still revoke them; after that nothing it issued survives anyway.
    counts["codes"] = Grant.objects.filter(expires__lt=now - refresh_life).delete()[0]
    counts["codes"] += Grant.objects.filter(expires__lt=now, used_at__isnull=True).delete()[0]
    return counts

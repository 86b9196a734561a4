"""Celery tasks of the authorization server (beat runs them; `manage.py periodic` in
embedded mode)."""
import logging

from celery import shared_task

from . import housekeeping, revocation, signing_keys

log = logging.getLogger(__name__)


@shared_task
def purge_expired_oauth_records():
    counts = housekeeping.purge_expired()
    if any(counts.values()):
        log.info("oauth housekeeping deleted %s", counts)
    return counts


@shared_task
def promote_next_signing_keys():
    """A rotation's next key takes over signing once it has been published long enough."""
    promoted = signing_keys.promote_due()
    if promoted:
        log.info("signing keys: %d next key(s) now sign", promoted)
    return promoted


@shared_task
def announce_pending_revocations():
    """Station token revocations whose connection close was never announced (a process
    killed after the commit, a channel layer that was down): announced again."""
    announced = revocation.announce_pending()
    if announced:
        log.warning("announced %d station token revocation(s) again: the first announcement did not complete",
                    announced)
    return announced

"""Celery tasks of the authorization server (beat runs them; `manage.py periodic` in
embedded mode)."""
import logging

from celery import shared_task

from . import housekeeping

log = logging.getLogger(__name__)


@shared_task
def purge_expired_oauth_records():
    counts = housekeeping.purge_expired()
    if any(counts.values()):
        log.info("oauth housekeeping deleted %s", counts)
    return counts

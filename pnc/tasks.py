"""Celery tasks of Plug & Charge (beat runs them; `manage.py periodic` in embedded mode)."""
import logging

from celery import shared_task

from . import contracts

log = logging.getLogger(__name__)


@shared_task
def expire_ended_contracts():
    count = contracts.expire_due()
    if count:
        log.info("pnc: %d contracts expired", count)
    return count

"""`manage.py periodic`: run the Celery beat schedule in-process (embedded mode).

Production runs `celery beat` and workers; the embedded mode has neither, so `make run`
starts this next to the server: every task of CELERY_BEAT_SCHEDULE runs here, inline,
on its period.
"""
import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.celery import app

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the periodic tasks (retries, schedule, campaigns, reaper) without Celery beat."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every task once and exit")

    def handle(self, *args, once=False, **opts):
        # Task modules are discovered lazily (a worker imports them at start): do it now.
        app.loader.import_default_modules()
        # One line per run every few seconds would drown the server's own output.
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
        schedule = {name: (entry["task"], float(entry["schedule"]))
                    for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
        due = dict.fromkeys(schedule, 0.0)
        self.stdout.write(f"running {len(schedule)} periodic tasks in-process")
        while True:
            now = time.monotonic()
            for name, (task_name, period) in schedule.items():
                if now < due[name]:
                    continue
                due[name] = now + period
                try:
                    app.tasks[task_name].apply()
                except Exception:  # one failing task must not stop the others
                    log.exception("periodic task %s failed", task_name)
            if once:
                return
            time.sleep(max(0.5, min(due.values()) - time.monotonic()))

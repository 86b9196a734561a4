"""A real Celery worker process on the test database, for tests on the production path
(REDIS_URL set: tasks go through the broker instead of running eagerly in process)."""
import os
import subprocess
import sys
import time

from django.conf import settings
from django.db import connection

from tests.live import REPO


def start_worker(log_path, **env) -> subprocess.Popen:
    """A real Celery worker process on the test database, ready to take tasks."""
    log = open(log_path, "ab")
    env = {**os.environ, "CHARGEGATE_DB_NAME": str(connection.settings_dict["NAME"]),
           "DJANGO_SETTINGS_MODULE": "portal.settings", **env}
    start = log_path.stat().st_size
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo",
         "--loglevel", "INFO", "-Q", settings.CELERY_TASK_DEFAULT_QUEUE,
         "-n", f"test-{os.getpid()}-{time.monotonic_ns()}@%h"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 30
    while b"ready" not in log_path.read_bytes()[start:]:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(log_path.read_text())
        time.sleep(0.2)
    return proc


def stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)

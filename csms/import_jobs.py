"""A station import started from the portal, run beside the request that checked it,
with its progress where any process can read it.

The request checks the whole file (`station_import.check_file`: nothing is written on
any problem) and answers at once; the import itself (hashing the keys, then writing the
rows: `station_import.run`) takes minutes for a large fleet with argon2, so it runs in a
thread of the process that received the file. Not a Celery task: until they are hashed
the rows hold the stations' plain keys, and secrets never reach the broker
(docs/security.md). Its progress goes to the cache, which is Redis when there are
several processes (so whichever serves the page's poll reads it) and process memory
in embedded mode, which is one process.

A process that stops mid-way loses the import whole (`write` is one transaction); the
job then stops beating, and after STALE_SECONDS its page says so.
"""
import logging
import re
import threading
import time
import uuid

from django.core.cache import cache
from django.db import connection

from . import station_import

log = logging.getLogger(__name__)

KEPT_SECONDS = 24 * 3600  # how long a finished job's page can still be opened
# Imports running at once in this process, whichever tenant started them. Each keeps
# 2 × CONCURRENCY keys admitted at the hashing gate that every tenant's handshakes and
# sign-ins share (lib/hashing.py): unbounded, imports started in a loop would take every
# admission and the gate would answer 503 to everyone.
AT_ONCE = 2
_slots = threading.BoundedSemaphore(AT_ONCE)
_running = 0
_running_lock = threading.Lock()


class ImportsBusy(Exception):
    """AT_ONCE imports are running in this process: try again when one is done."""

    retry_after = 30


def running() -> int:
    """How many imports this process is running."""
    return _running


def _taken(delta: int) -> None:
    global _running
    with _running_lock:
        _running += delta
STALE_SECONDS = 120
JOB_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex
BEAT_SECONDS = 0.5  # progress is written at most this often (and at each end)


def cache_key(tenant, job_id: str) -> str:
    """A job is found only under its own tenant: another tenant's id is no job at all."""
    return f"station-import:{tenant.pk}:{job_id}"


def status(tenant, job_id: str) -> dict | None:
    """The job's state (running, done or failed), progress and summary; `stale` once a
    running job has not beaten for STALE_SECONDS. An id `start` could not have made (a
    uuid4's 32 hex digits) is no job, without a cache key of whatever length was asked."""
    if not JOB_ID.fullmatch(job_id):
        return None
    job = cache.get(cache_key(tenant, job_id))
    if job is not None:
        job["stale"] = job["state"] == "running" and time.time() - job["beat"] > STALE_SECONDS
        job["percent"] = 100 * job["done"] // job["total"] if job["total"] else 100
    return job


def start(tenant, checked: station_import.Checked, master: bytes | None, *, keys_are_random: bool,
          actor: str) -> str:
    """Start importing a file found good; the job's id."""
    if not _slots.acquire(blocking=False):
        raise ImportsBusy(f"{AT_ONCE} imports are running on this server; start this one when one of them is done")
    _taken(+1)
    try:
        job_id = uuid.uuid4().hex
        job = Job(tenant, job_id, total=station_import.work_of(checked), actor=actor)
        job.record()  # raises if the cache is out: better no import than one nobody can follow
        threading.Thread(target=job.run_in_thread, args=(checked, master, keys_are_random), daemon=True,
                         name=f"station-import-{job_id[:8]}").start()
    except BaseException:
        _free()
        raise
    return job_id


def _free() -> None:
    _taken(-1)
    _slots.release()


class Job:
    """One import's progress as its thread sees it: steps done (each key hashed, then
    each row written) of `total`, then its summary or its error."""

    def __init__(self, tenant, job_id: str, *, total: int, actor: str):
        self.tenant, self.job_id, self.actor = tenant, job_id, actor
        self.state, self.done, self.total, self.hashed = "running", 0, total, 0
        self.summary, self.error, self.saved_at = None, "", 0.0

    def record(self) -> None:
        self.saved_at = time.time()
        cache.set(cache_key(self.tenant, self.job_id),
                  {"state": self.state, "done": self.done, "total": self.total, "summary": self.summary,
                   "error": self.error, "actor": self.actor, "beat": self.saved_at}, KEPT_SECONDS)

    def save(self, force: bool = False) -> None:
        """Record the progress (at most every BEAT_SECONDS unless `force`); a cache that
        does not answer costs the page its figures, never the import."""
        if not force and time.time() - self.saved_at < BEAT_SECONDS:
            return
        try:
            self.record()
        except Exception:
            log.warning("station import %s: progress not recorded", self.job_id, exc_info=True)

    def on_hashed(self, n: int) -> None:
        self.hashed = self.done = n
        self.save()

    def on_written(self, n: int) -> None:
        self.done = self.hashed + n
        self.save()

    def run(self, checked, master, keys_are_random) -> None:
        try:
            self.summary = station_import.run(self.tenant, checked, master, keys_are_random=keys_are_random,
                                              actor=self.actor, on_hashed=self.on_hashed, on_written=self.on_written)
            self.state, self.done = "done", self.total
        except station_import.WrittenMeanwhile as exc:
            self.state, self.error = "failed", str(exc)
        except Exception:
            # The traceback names no key: station_import's messages never hold one.
            log.exception("station import %s of tenant %s failed", self.job_id, self.tenant.slug)
            self.state, self.error = "failed", "nothing imported: the import failed (the server's log says why)"
        finally:
            self.save(force=True)

    def run_in_thread(self, *args) -> None:
        try:
            self.run(*args)
        finally:
            connection.close()  # the thread's own connection: nobody else would close it
            _free()

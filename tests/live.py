"""Live CSMS processes for tests: the real server on loopback, sharing the test database."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(RuntimeError):
    pass


class LiveServer:
    """One server process started as the README starts it (`python -m portal.serve`, uvicorn
    with the request-head guard and the frame limit); its log is kept for inspection."""

    def __init__(self, db_name: str, log_dir: Path, name: str = "csms", extra_env=None):
        self.port = free_port()
        self.name = name
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "CHARGEGATE_DB_NAME": str(db_name),
            "PORT": str(self.port),
            "CSMS_RECONCILE_SECONDS": "0.5",
            "CSMS_CALL_TIMEOUT_SECONDS": "3",
            # A station that accepted a Reset restarts within milliseconds here.
            "CSMS_RESET_PATIENCE_SECONDS": "3",
            "CSMS_NODE_BEAT_SECONDS": "0.5",
            "CSMS_STAMP_FLUSH_SECONDS": "0.1",
            "CSMS_RECENT_FLUSH_SECONDS": "0.2",
            "CSMS_AUTH_AUDIT_FLUSH_SECONDS": "0.1",
            "CSMS_STATION_FRESH_SECONDS": "1",
            # Every test station connects from 127.0.0.1: lines its tests read must not be
            # counted away (tests/lib/test_log_summary.py tests the budget).
            "CSMS_LOG_LINES_PER_PEER": "100000",
            "CSMS_LOG_LINES_PER_INTERVAL": "100000",
            # `stop()` drains like any SIGTERM, but briefly (tests/csms/test_drain.py sets its own).
            "CSMS_DRAIN_SECONDS": "1",
            "LOG_LEVEL": "DEBUG",
            # The suite's servers run side by side on a few cores: pinned, each would sit
            # on the first (tests/portal/test_cpu_pin_live.py starts one pinned).
            "WEB_CPU_PIN": "off",
            **(extra_env or {}),
        }
        self.proc = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, attempts: int = 3):
        """Start it; a port taken between `free_port` and the bind (another process on
        this machine picked it meanwhile) is retried on a fresh one."""
        for attempt in range(attempts):
            try:
                return self._start_once()
            except PortTaken:
                if attempt == attempts - 1:
                    raise
                self.port = free_port()
                self.env["PORT"] = str(self.port)
                self.log_path = self.log_path.with_name(f"{self.name}-{self.port}.log")

    def _start_once(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portal.serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--lifespan", "off", "--log-level", "debug"],
            cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                if "address already in use" in self.log():
                    raise PortTaken(self.port)
                raise RuntimeError(f"server exited early; see {self.log_path}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.http + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy; see {self.log_path}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

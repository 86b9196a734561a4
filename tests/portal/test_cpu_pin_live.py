"""WEB_CPU_PIN on the server the README starts: every thread of the process on one core
(lib/cpu_affinity.py), or a clear refusal of a value it does not know."""
import os
from pathlib import Path

import pytest
from django.db import connection

from tests.live import LiveServer

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPU cores to choose from")


def cores_of_every_thread(pid: int) -> set[str]:
    masks = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except FileNotFoundError:  # that thread ended meanwhile
            continue
        for line in status.splitlines():
            if line.startswith("Cpus_allowed_list:"):
                masks.add(line.split(":", 1)[1].strip())
    return masks


def serve(live_log_dir, pin: str) -> LiveServer:
    return LiveServer(connection.settings_dict["NAME"], live_log_dir, name=f"pin-{pin}",
                      extra_env={"WEB_CPU_PIN": pin})


@pytest.mark.django_db(transaction=True)
def test_pinned_every_thread_of_the_server_runs_on_one_core(live_log_dir):
    server = serve(live_log_dir, "on").start()
    try:
        masks = cores_of_every_thread(server.proc.pid)
        assert len(masks) == 1 and next(iter(masks)).isdigit(), masks
        assert "pinned to CPU core" in server.log(), server.log()[-2000:]
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_off_leaves_the_server_on_every_core_it_may_use(live_log_dir):
    server = serve(live_log_dir, "off").start()
    try:
        assert all(not mask.isdigit() for mask in cores_of_every_thread(server.proc.pid))
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_an_unknown_value_stops_the_server_with_a_clear_message(live_log_dir):
    with pytest.raises(RuntimeError, match="WEB_CPU_PIN must be on or off, not 'sometimes'"):
        serve(live_log_dir, "sometimes").start()

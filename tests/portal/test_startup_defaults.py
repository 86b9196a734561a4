"""Issue 8, item 14: the development SECRET_KEY never serves beyond the loopback, and any
SQLite database gets the embedded options."""
import os
import subprocess
import sys

import pytest

from portal.startup import _problem, bind_hosts
from tests.live import REPO, LiveServer, free_port


def server_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "PUBLIC_URL")}
    return {**env, "DJANGO_SETTINGS_MODULE": "portal.settings", **extra}


def start_uvicorn(host: str, **env) -> subprocess.CompletedProcess | None:
    """Run a server for up to 20 s; its result if it exited, None if it kept serving."""
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", host,
                             "--port", str(free_port()), "--lifespan", "off"],
                            cwd=REPO, env=server_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=20)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(errors="replace"))
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(10)
        return None


def test_a_server_bound_beyond_the_loopback_refuses_the_development_key():
    result = start_uvicorn("0.0.0.0")
    assert result is not None, "the server started with the development SECRET_KEY on 0.0.0.0"
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stdout


def test_a_non_loopback_public_url_refuses_the_development_key():
    result = start_uvicorn("127.0.0.1", PUBLIC_URL="http://csms.example.com")
    assert result is not None and result.returncode != 0 and "PUBLIC_URL" in result.stdout


def test_the_loopback_server_starts_with_the_development_key_and_says_so(django_db_setup, django_db_blocker,
                                                                         live_log_dir):
    from django.db import connection
    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    server = LiveServer(db_name, live_log_dir, name="devkey")
    server.env.pop("SECRET_KEY", None)
    server.start()
    server.stop()
    assert "SECRET_KEY is not set" in server.log()


@pytest.mark.parametrize("argv, hosts", [
    (["/venv/bin/uvicorn", "portal.asgi:application"], ["127.0.0.1"]),
    (["/venv/bin/uvicorn", "portal.asgi:application", "--host", "0.0.0.0"], ["0.0.0.0"]),
    (["/x/uvicorn/__main__.py", "portal.asgi:application", "--host=::"], ["::"]),
    (["/venv/bin/uvicorn", "portal.asgi:application", "--uds", "/run/cg.sock"], [""]),
    (["/venv/bin/gunicorn", "-b", "10.0.0.5:8000", "portal.asgi:application"], ["10.0.0.5"]),
    (["manage.py", "migrate"], None),
])
def test_bind_hosts_reads_the_server_command_line(argv, hosts):
    assert bind_hosts(argv, {}) == hosts


def test_a_set_secret_key_is_never_a_problem():
    assert _problem(default_key=False, public_url="http://example.com", hosts=["0.0.0.0"]) is None
    assert _problem(default_key=True, public_url="http://127.0.0.1:8000", hosts=["127.0.0.1"])[0] == "warning"
    assert _problem(default_key=True, public_url="http://[::1]:8000", hosts=["::1"])[0] == "warning"


def test_database_url_sqlite_gets_the_embedded_options(tmp_path):
    script = ("from django.db import connection as c; cur = c.cursor(); cur.execute('PRAGMA journal_mode');"
              "print(cur.fetchone()[0], c.settings_dict['OPTIONS'].get('transaction_mode'),"
              " c.settings_dict['OPTIONS'].get('timeout'))")
    env = server_env(DATABASE_URL=f"sqlite:///{tmp_path}/cg.sqlite3")
    env.pop("CHARGEGATE_DB_NAME", None)
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].split() == ["wal", "IMMEDIATE", "20"]

"""Refusing to serve the network with the development SECRET_KEY.

Without SECRET_KEY the settings fall back to a per-checkout key (embedded mode), from
which sessions, CSRF tokens and — unless OAUTH_KEY_ENCRYPTION_KEY is set — the key that
seals the tenants' OAuth signing keys are derived. Anyone with the checkout's path can
compute it. That is fine for `make run` on 127.0.0.1 and nowhere else: a server bound to
another address, or announced at a non-loopback PUBLIC_URL, refuses to start; on the
loopback it warns. `_problem` is the pure rule; `check_server` applies it at ASGI import
(only servers import portal.asgi, so management commands stay quiet).
"""
import ipaddress
import logging
import os
import sys
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_hosts(argv: list[str], environ) -> list[str] | None:
    """The addresses a uvicorn (or gunicorn) command line binds, "" for a socket we cannot
    place (--uds, --fd); None when this is no server command we know."""
    program = " ".join(argv[:1]).lower()
    if "uvicorn" not in program and "gunicorn" not in program:
        return None
    hosts = []
    for i, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name in ("--host", "-b", "--bind") and not value and i + 1 < len(argv):
            value = argv[i + 1]
        if name == "--host":
            hosts.append(value)
        elif name in ("-b", "--bind"):
            hosts.append("" if value.startswith(("unix:", "fd:")) else value.rsplit(":", 1)[0])
        elif name in ("--uds", "--fd"):
            hosts.append("")
    if not hosts and "uvicorn" in program:
        hosts.append(environ.get("UVICORN_HOST", "127.0.0.1"))  # uvicorn's own default
    return hosts


def _problem(*, default_key: bool, public_url: str, hosts: list[str] | None) -> tuple[str, str] | None:
    """("error" | "warning", message) for a server using the development key, or None."""
    if not default_key:
        return None
    public_host = urlsplit(public_url).hostname or ""
    exposed = [h or "a socket" for h in (hosts or []) if not is_loopback(h)]
    if not is_loopback(public_host):
        exposed.append(f"PUBLIC_URL {public_url}")
    if exposed:
        return "error", (f"SECRET_KEY is not set, and this server is reachable beyond the loopback "
                         f"({', '.join(exposed)}): the development key would sign sessions and seal "
                         f"the OAuth signing keys. Set SECRET_KEY (and OAUTH_KEY_ENCRYPTION_KEY).")
    return "warning", ("SECRET_KEY is not set: using the per-checkout development key. Fine on "
                       "127.0.0.1; set SECRET_KEY before serving anyone else.")


def check_server() -> None:
    problem = _problem(default_key=settings.SECRET_KEY_IS_DEVELOPMENT_KEY, public_url=settings.PUBLIC_URL,
                       hosts=bind_hosts(sys.argv, os.environ))
    if problem is None:
        return
    level, message = problem
    if level == "error":
        raise ImproperlyConfigured(message)
    log.warning("!!! %s", message)
    print(f"WARNING: {message}", file=sys.stderr, flush=True)  # the log may be filtered; say it anyway

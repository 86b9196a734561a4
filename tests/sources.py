"""Client source addresses for throttle tests: all of 127.0.0.0/8 reaches a server on
127.0.0.1, so each test can play its own set of distinct clients (a throttle keyed on
the source must not see one test's failures in another)."""
import itertools

import requests
from requests.adapters import HTTPAdapter

_next = itertools.count(1)


def new_source() -> str:
    n = next(_next)
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


class _SourceAdapter(HTTPAdapter):
    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(source: str) -> requests.Session:
    """A requests session whose connections leave from `source`."""
    session = requests.Session()
    session.mount("http://", _SourceAdapter(source))
    return session

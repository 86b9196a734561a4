"""Whether this process is leaving (csms/drain.py): then it takes no station handshake
and starts no call. Django-free, so that `portal.serve` can ask before Django is set up."""
_leaving = False


def draining() -> bool:
    return _leaving


def begin() -> None:
    global _leaving
    _leaving = True

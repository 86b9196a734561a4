"""A mark on views that only machines call: no cookies, no session, no CSRF token, no
page to render. The web process serves them past Django's middleware stack, on a pool
of threads with persistent database connections (portal/machine_http.py); Django's own
handler (the test client, `runserver`) serves them unchanged."""

_MARK = "machine_endpoint"


def machine_endpoint(view):
    """Mark `view`; decorators applied later with `functools.wraps` keep the mark."""
    setattr(view, _MARK, True)
    return view


def is_machine_endpoint(view) -> bool:
    return getattr(view, _MARK, False) is True

"""A mark on views that only machines call: no cookies, no session, no CSRF token, no
page to render. The web process serves them past Django's middleware stack, on a pool
of threads with persistent database connections (portal/machine_http.py); Django's own
handler (the test client, `runserver`) serves them unchanged.

`max_body` is the most of a request body the view reads (by default
DATA_UPLOAD_MAX_MEMORY_SIZE). The machine path reads a body on the event loop before the
view runs, so without it a client could make the server take in and hold a body of the
server's own limit (16 MiB) for a view that then refuses anything over 8 KiB: it reads
nothing of a body whose declared length is over `max_body`, and stops soon after
`max_body` bytes of one without a length, which then gets that length, so the view's own
bound refuses it in the view's own words."""

_MARK = "machine_endpoint"
_MAX_BODY = "machine_endpoint_max_body"


def machine_endpoint(view=None, *, max_body: int | None = None):
    """Mark `view` (`@machine_endpoint` or `@machine_endpoint(max_body=…)`); decorators
    applied later with `functools.wraps` keep the mark."""
    def mark(v):
        setattr(v, _MARK, True)
        if max_body is not None:
            setattr(v, _MAX_BODY, max_body)
        return v

    return mark(view) if view is not None else mark


def is_machine_endpoint(view) -> bool:
    return getattr(view, _MARK, False) is True


def max_body(view) -> int | None:
    """The body bound `view` declared, or None."""
    return getattr(view, _MAX_BODY, None)

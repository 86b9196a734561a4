"""Signing in with a password, throttled: the one backend behind the portal login,
/admin/login/ and the REST API's HTTP Basic (all of them call `authenticate()`).

The subject is the username as typed, case-folded (so `Admin` and `admin` count as one
name); the source is the client address uvicorn reports (behind a proxy: the address
it forwards, see docs/deployment.md). A refused attempt raises `Throttled` before any
hash runs; `portal.middleware` answers it with 429 and `Retry-After`.
"""
from django.contrib.auth.backends import ModelBackend

from lib import throttle


def source_of(request) -> str:
    return (request.META.get("REMOTE_ADDR") if request is not None else None) or "unknown"


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:  # not a password sign-in: nothing to throttle
            return super().authenticate(request, username=username, password=password, **kwargs)
        subject, source = str(username).casefold(), source_of(request)
        throttle.users.check_or_raise(subject, source)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            throttle.users.failed(subject, source)
        else:
            throttle.users.succeeded(subject, source)
        return user

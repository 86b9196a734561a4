"""Answers for the two ways a credential check can be turned away before it runs: a
throttled attempt (429) and a hashing gate that stayed full (503). Both carry
`Retry-After`, so well-behaved clients (and stations) back off instead of retrying hot."""
from django.http import HttpResponse

from lib.hashing import HashingBusy
from lib.throttle import Throttled


def refusal(exc: Exception) -> HttpResponse | None:
    if isinstance(exc, Throttled):
        response = HttpResponse("Too many failed attempts; try again later.\n", status=429,
                                content_type="text/plain; charset=utf-8")
    elif isinstance(exc, HashingBusy):
        response = HttpResponse("Busy; try again shortly.\n", status=503, content_type="text/plain; charset=utf-8")
    else:
        return None
    response["Retry-After"] = str(exc.retry_after)
    return response


class CredentialRefusalMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        return refusal(exc)

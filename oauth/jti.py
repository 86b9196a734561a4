"""The jti replay store (OSDM; RFC 7523 §3 item 7): an assertion's jti is spent once,
held by a unique row (`UsedAssertion`) kept until the assertion expires, so two
concurrent requests with one assertion cannot both pass, in any number of processes.

Where a request ends in a token (the token endpoint's client_credentials and jwt-bearer
grants), its jtis are spent in the transaction that records the token
(`tokens.issue` calls `spend_pending`): one commit instead of two, no token is recorded
unless its jtis are spent with it, and a replay that loses the race records nothing. A
request refused after its assertion was verified spends the jti all the same, when it
ends, so an assertion still works only once, right or wrong.
"""
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from lib.prepared_insert import PreparedInsert

from .assertions import AssertionRejected
from .errors import OAuthError
from .models import UsedAssertion

_insert_row = PreparedInsert(UsedAssertion)  # one per assertion: its SQL built once


@dataclass(frozen=True)
class Jti:
    tenant: object
    issuer: str
    jti: str
    expires_at: datetime
    purpose: str  # "grant" or "client_auth": which error a replay is

    def error(self) -> str:
        return "invalid_client" if self.purpose == "client_auth" else "invalid_grant"


_pending: ContextVar[list[Jti] | None] = ContextVar("oauth_unspent_jtis", default=None)


def spend(item: Jti) -> None:
    """Spend now, or with the token when the request is inside `spent_with_the_token`."""
    if "\x00" in item.jti:
        raise AssertionRejected(item.error(), "the assertion's jti is not usable")
    pending = _pending.get()
    if pending is None:
        _insert(item)
    else:
        pending.append(item)


def spend_pending() -> None:
    """Spend what this request verified; `tokens.issue` calls it inside the transaction
    that records the token, so a replayed jti rolls the token back. No savepoint of its
    own: a replay raises out of that transaction, which is then rolled back whole."""
    pending = _pending.get()
    while pending:
        _insert(pending.pop(0), savepoint=False)


@contextmanager
def spent_with_the_token():
    """For a request that ends in `tokens.issue`: its jtis are spent there. Whatever is
    still unspent when the request ends (it was refused) is spent then."""
    scope = _pending.set([])
    try:
        yield
    except AssertionRejected as exc:  # a replay found at spending time
        raise OAuthError(exc.error, exc.description) from None
    finally:
        leftover = _pending.get()
        _pending.reset(scope)
        for item in leftover:
            try:
                _insert(item)
            except AssertionRejected:
                pass  # already spent: this request is refused anyway


def _insert(item: Jti, savepoint: bool = True) -> None:
    try:
        with transaction.atomic(savepoint=savepoint):
            _insert_row(UsedAssertion(tenant=item.tenant, issuer=item.issuer, jti=item.jti,
                                      expires_at=item.expires_at))
    except IntegrityError:
        raise AssertionRejected(item.error(), "the assertion's jti was already used") from None

"""The platform's audit trail: who did what, in which tenant, when, and how it ended.

Every app records through `record` (and only through it), whichever layer it sits in:
`tenants` is the ground floor, so `oauth`, `pnc` and `csms` itself can all call it.

Where the rows go. They stay `csms.AuditEvent`: that model has a station foreign key
(the station pages list a station's events) and the indexes the audit page reads, and
`tenants` knows no station. Moving the model here would take a SeparateDatabaseAndState
migration in two apps on a table that only grows, for no gain in behaviour. So this
module defines a signal, `recorded`, and csms's `audit_store` writes the row when it is
sent. Signals are synchronous: the row is written in the caller's transaction, so a
change and its audit entry are kept or rolled back together. With no receiver (an
installation without csms) `record` raises rather than lose the entry in silence.

Bulk writers inside csms (the coalesced handshake events of `csms.auth_audit`, a station
import's thousands of `station.registered` rows) build rows with `csms.credentials.
audit_row` and bulk-insert them: they are csms's own volume, beside the model.

A detail never carries a secret: a detail named like one (secret, password, token,
private key, PEM, JWK) is a programming error and raises before anything is written.
The actions each app records are described by it (`describe_actions`), so the audit page
can offer them in its filter and say in words what each event was.
"""
import re
import string

from django.dispatch import Signal

# Sent with `tenant_id`, `actor`, `action`, `outcome`, `detail` (a dict) and `station`
# (a csms Station or None). The receiver stores the event and returns it.
recorded = Signal()

ACTOR_MAX = 150  # AuditEvent.actor
ACTION_MAX = 64
OUTCOME_MAX = 64

_SECRET_NAME = re.compile(r"(?i)(^|_)(secret|password|passphrase|token|private|private_key|pem|jwk|key_text)($|_)")


class SecretInDetail(ValueError):
    """A detail named like a secret: audit entries are shown to every viewer and exported."""


def record(tenant, actor: str, action: str, outcome: str = "", *, station=None, **detail):
    """Record that `actor` (a username, "cli", "system", "station", client:<id>) did
    `action` in `tenant` (a Tenant or its id), with the outcome in a few words and
    `detail` (JSON values, never a secret). Returns the stored event."""
    for name in detail:
        if _SECRET_NAME.search(name):
            raise SecretInDetail(f"audit detail {name!r} is named like a secret: never audit one")
    tenant_id = getattr(tenant, "pk", tenant)
    answers = recorded.send(sender=record, tenant_id=tenant_id, actor=(actor or "")[:ACTOR_MAX],
                            action=action[:ACTION_MAX], outcome=(outcome or "")[:OUTCOME_MAX],
                            detail=detail, station=station)
    if not answers:
        raise RuntimeError("no audit store is connected (csms.audit_store): the event would be lost")
    return answers[0][1]


def actor_of(request) -> str:
    """The acting user's name, as every page records it."""
    return request.user.get_username()


# --- what each action means, in words ---------------------------------------------------

_DESCRIPTIONS: dict[str, str] = {}


def describe_actions(descriptions: dict[str, str]) -> None:
    """Register actions with a sentence each, a `str.format` template over the event's
    detail and `{outcome}` (a missing field reads "?"). Each app registers its own."""
    _DESCRIPTIONS.update(descriptions)


def known_actions() -> list[tuple[str, str]]:
    """Every registered action with its template's words, sorted by action."""
    return sorted((action, _generic(text)) for action, text in _DESCRIPTIONS.items())


class _Lenient(dict):
    def __missing__(self, key):
        return "?"


_FORMATTER = string.Formatter()


def describe(action: str, outcome: str, detail) -> str:
    """The event in words; an action no app registered reads as itself."""
    template = _DESCRIPTIONS.get(action)
    if template is None:
        return action
    fields = _Lenient(detail if isinstance(detail, dict) else {})
    fields.setdefault("outcome", outcome or "?")
    try:
        return _FORMATTER.vformat(template, (), fields)
    except (ValueError, IndexError, AttributeError, KeyError):  # a detail of another shape
        return action


def _generic(template: str) -> str:
    """A template with each field written "…": the filter's option text."""
    return re.sub(r"\{[^}]*\}", "…", template)

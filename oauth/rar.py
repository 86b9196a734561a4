"""Rich Authorization Requests (RFC 9396): the registry of authorization details types.

The authorization server knows no detail type of its own. An app registers each type it
understands (``pnc`` registers ``pnc_contract_request`` from its ``AppConfig.ready()``), so
imports keep pointing down and the AS never imports the apps that use it.

A type brings three things:

* a JSON Schema (draft 2020-12) for the structure, checked first;
* ``normalise``, for the meaning: ranges, cross-field rules, defaults and one canonical
  spelling of every value;
* ``describe``, the plain-English lines the consent screen shows.

``parse`` returns canonical details only. They are what the AS stores with a pushed
request, shows the driver and puts in the access token, so what is approved is exactly
what was shown, spelled one way.

Pure logic: no database, no I/O, no Django.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

PARAMETER = "authorization_details"
MAX_RAW_BYTES = 16 * 1024
MAX_DETAILS = 10
WRAPPER_KEYS = frozenset({"emsp_id", "redirect_uri", "authorization_detail"})
SNIPPET_LENGTH = 24

Path = tuple[str | int, ...]


class InvalidAuthorizationDetails(ValueError):
    """The ``authorization_details`` parameter is unacceptable.

    ``str(error)`` is the OAuth ``error_description`` of an ``invalid_authorization_details``
    answer (RFC 9396 §5, HTTP 400): it starts with the path of the offending field, as
    in ``authorization_details[0].maximum_amount.amount: ...``. Descriptions quote at most a
    short, sanitised piece of the input, and are restricted to the characters RFC 6749
    §5.2 allows in ``error_description``, so they are safe to return, log and show.

    A detail type's ``normalise`` raises it with a path relative to the detail;
    ``parse`` puts the detail's own position in front with ``under()``.
    """

    def __init__(self, reason: str, path: Sequence[str | int] = ()):
        self.reason = reason
        self.path: Path = tuple(path)
        super().__init__(self.description)

    @property
    def description(self) -> str:
        where = render_path(self.path)
        return error_text(f"{where}: {self.reason}" if where else self.reason)

    def under(self, *prefix: str | int) -> InvalidAuthorizationDetails:
        """The same problem, seen from further out in the document."""
        return type(self)(self.reason, (*prefix, *self.path))


# ---------------------------------------------------------------------------------------
# Safe error text


_TYPE_PHRASES = {"string": "a string", "object": "an object", "array": "an array", "number": "a number",
                 "integer": "an integer", "boolean": "a boolean", "null": "null"}
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}", re.ASCII)
_UNSAFE_IN_SNIPPET = re.compile(r"[^A-Za-z0-9 _.:/+@-]", re.ASCII)
# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
_OUTSIDE_ERROR_CHARSET = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def error_text(text: str) -> str:
    """Last line of defence: anything RFC 6749 forbids in an error_description becomes '?'."""
    return _OUTSIDE_ERROR_CHARSET.sub("?", text)


def snippet(value: Any, limit: int = SNIPPET_LENGTH) -> str:
    """A short, quoted, sanitised piece of untrusted input, for an error description.

    Only letters, digits and a few harmless punctuation marks survive; anything else is
    shown as '?', and the text is cut at ``limit`` characters. Non-strings are named by
    their JSON type, never echoed.
    """
    if not isinstance(value, str):
        return json_type(value)
    shown = _UNSAFE_IN_SNIPPET.sub("?", value[:limit])
    return f"'{shown}...'" if len(value) > limit else f"'{shown}'"


def render_path(path: Sequence[str | int]) -> str:
    """``("authorization_details", 0, "maximum_amount")`` → ``authorization_details[0].maximum_amount``.

    Keys that are not plain identifiers come from the client; they are quoted and sanitised.
    """
    parts = []
    for position, segment in enumerate(path):
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif _PLAIN_KEY.fullmatch(segment):
            parts.append(segment if position == 0 else f".{segment}")
        else:
            parts.append(f"[{snippet(segment)}]")
    return "".join(parts)


def a_json_type(value: Any) -> str:
    """'a string', 'an array', 'null': the JSON type of a value, for 'must be X, not Y'."""
    name = json_type(value)
    return _TYPE_PHRASES.get(name, name)


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages like 'must be a string, not array'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------
# Detail types and the registry


@dataclass(frozen=True)
class DetailType:
    """One authorization details ``type`` (RFC 9396 §2) the AS accepts.

    ``normalise(detail, now)`` runs after the schema passed; it returns the canonical
    detail (which must itself pass the schema and normalise to itself) or raises
    InvalidAuthorizationDetails with a path relative to the detail. ``describe(detail)``
    gets a canonical detail and returns the consent screen's (label, value) lines.
    ``unique`` allows at most one detail of this type per request, for types where two
    would be ambiguous (which of two contracts would a certificate belong to?).
    """

    name: str
    schema: dict
    normalise: Callable[[dict, datetime], dict]
    describe: Callable[[dict], list[tuple[str, str]]]
    title: str
    unique: bool = False
    validator: Draft202012Validator = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a detail type needs a non-empty name")
        # A broken schema is a programming error: fail at registration, not per request.
        Draft202012Validator.check_schema(self.schema)
        object.__setattr__(self, "validator", Draft202012Validator(self.schema))


class Registry:
    """The detail types one authorization server accepts.

    The module-level functions use ``default_registry``; tests build their own so they
    depend neither on which apps are installed nor on the order they were loaded in.
    """

    def __init__(self, types: Iterable[DetailType] = ()):
        self._types: dict[str, DetailType] = {}
        for detail_type in types:
            self.register(detail_type)

    def register(self, detail_type: DetailType) -> DetailType:
        """Add a type. Registering the same type again is harmless (``ready()`` may run
        twice in tests); a different type under a taken name is a programming error."""
        existing = self._types.get(detail_type.name)
        if existing is not None and existing != detail_type:
            raise ValueError(f"another authorization details type is registered as {detail_type.name!r}")
        self._types[detail_type.name] = detail_type
        return detail_type

    def get(self, name: str) -> DetailType:
        """The registered type called ``name``; KeyError if there is none."""
        try:
            return self._types[name]
        except KeyError:
            raise KeyError(f"no authorization details type {name!r} is registered") from None

    def names(self) -> list[str]:
        """Sorted, for ``authorization_details_types_supported`` (RFC 9396 §10)."""
        return sorted(self._types)

    def parse(self, raw: str | None, *, now: datetime,
              allowed_types: Iterable[str] | None = None) -> list[dict]:
        """The canonical details of an ``authorization_details`` request parameter.

        ``raw`` is the parameter's JSON text; absent or empty means no details (``[]``).
        Otherwise it must be a JSON array of 1 to MAX_DETAILS objects, each with a
        registered ``type`` (one of ``allowed_types`` when given, e.g. the client's), that
        passes its type's schema and ``normalise``. One exception to the array: the
        reference EV's wrapper object, see ``unwrap``. ``now`` (timezone-aware) is when
        the request is made; types use it for defaults and for rules about time.

        Raises InvalidAuthorizationDetails describing the first problem found.
        """
        if raw is None or raw == "":
            return []
        if not isinstance(raw, str):
            raise TypeError("authorization_details must be given as the parameter's text")
        if now.tzinfo is None or now.utcoffset() is None:
            raise TypeError("now must be timezone-aware")
        allowed = None if allowed_types is None else frozenset(allowed_types)
        seen: set[str] = set()
        details = []
        for path, element in elements(load_json(raw)):
            detail_type = self._type_of(element, path, allowed)
            if detail_type.unique and detail_type.name in seen:
                raise InvalidAuthorizationDetails(
                    f"only one {snippet(detail_type.name, 64)} detail is allowed per request", (*path, "type"))
            seen.add(detail_type.name)
            details.append(self._canonical(detail_type, element, path, now))
        return details

    def describe(self, details: Iterable[dict]) -> list[dict]:
        """What the consent screen shows: per canonical detail, its type, the type's title
        and its (label, value) lines."""
        described = []
        for detail in details:
            detail_type = self.get(detail["type"])
            described.append({"type": detail_type.name, "title": detail_type.title,
                              "lines": list(detail_type.describe(detail))})
        return described

    def _type_of(self, element: Any, path: Path, allowed: frozenset[str] | None) -> DetailType:
        if not isinstance(element, dict):
            raise InvalidAuthorizationDetails(f"must be a JSON object, not {a_json_type(element)}", path)
        if "type" not in element:
            raise InvalidAuthorizationDetails("is required", (*path, "type"))
        name = element["type"]
        if not isinstance(name, str):
            raise InvalidAuthorizationDetails(f"must be a string, not {a_json_type(name)}", (*path, "type"))
        detail_type = self._types.get(name)
        if detail_type is None:
            raise InvalidAuthorizationDetails(
                f"unknown authorization details type {snippet(name)}", (*path, "type"))
        if allowed is not None and name not in allowed:
            raise InvalidAuthorizationDetails(
                f"authorization details type {snippet(name)} is not allowed for this client", (*path, "type"))
        return detail_type

    @staticmethod
    def _canonical(detail_type: DetailType, element: dict, path: Path, now: datetime) -> dict:
        error = best_match(detail_type.validator.iter_errors(element))
        if error is not None:
            raise schema_problem(error).under(*path) from None
        try:
            return detail_type.normalise(element, now)
        except InvalidAuthorizationDetails as problem:
            raise problem.under(*path) from problem


# ---------------------------------------------------------------------------------------
# Reading the parameter


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


class _NotFinite(Exception):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    """JSON leaves duplicate names undefined (RFC 8259 §4); Python keeps the last one,
    other parsers the first. A detail read two ways could be shown one way and enforced
    another, so duplicates are refused."""
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400 overflows to inf
        raise _NotFinite
    return number


def _no_constants(name: str) -> Any:
    raise _NotFinite  # NaN, Infinity, -Infinity: Python accepts them, JSON has no such thing


def load_json(raw: str) -> Any:
    """Strict JSON: bounded size, no duplicate keys, no NaN or Infinity."""
    if len(raw) > MAX_RAW_BYTES or len(raw.encode("utf-8", "surrogatepass")) > MAX_RAW_BYTES:
        raise InvalidAuthorizationDetails(f"is too long (at most {MAX_RAW_BYTES} bytes)", (PARAMETER,))
    try:
        return json.loads(raw, object_pairs_hook=_object_without_duplicates,
                          parse_float=_finite_float, parse_constant=_no_constants)
    except _DuplicateKey as duplicate:
        raise InvalidAuthorizationDetails(
            f"duplicate key {snippet(duplicate.key)} in a JSON object", (PARAMETER,)) from None
    except _NotFinite:
        raise InvalidAuthorizationDetails(
            "numbers must be finite (no NaN, Infinity or overflowing exponents)", (PARAMETER,)) from None
    except json.JSONDecodeError as error:
        raise InvalidAuthorizationDetails(
            f"is not valid JSON ({error.msg} at character {error.pos})", (PARAMETER,)) from None
    except RecursionError:
        raise InvalidAuthorizationDetails("is nested too deeply", (PARAMETER,)) from None
    except ValueError:  # an integer beyond Python's int-from-string digit limit
        raise InvalidAuthorizationDetails("contains a number that is too long", (PARAMETER,)) from None


def elements(value: Any) -> list[tuple[Path, Any]]:
    """The details of a parsed parameter, each with the path its errors are reported at."""
    if isinstance(value, dict):
        return [((PARAMETER, "authorization_detail"), unwrap(value))]
    if not isinstance(value, list):
        raise InvalidAuthorizationDetails(
            f"must be a JSON array of authorization details objects, not {a_json_type(value)}", (PARAMETER,))
    if not value:
        raise InvalidAuthorizationDetails("must contain at least one authorization details object",
                                          (PARAMETER,))
    if len(value) > MAX_DETAILS:
        raise InvalidAuthorizationDetails(
            f"must contain at most {MAX_DETAILS} authorization details objects, not {len(value)}", (PARAMETER,))
    return [((PARAMETER, index), element) for index, element in enumerate(value)]


def unwrap(value: dict) -> dict:
    """The detail inside the reference EV's wrapper object.

    RFC 9396 §2 makes ``authorization_details`` a JSON array of objects. The reference
    EV of the PnC registration flow (spec §3.2, §3.3.2) sends instead the one object its
    user agent gave it::

        {"emsp_id": "...", "redirect_uri": "...", "authorization_detail": {...}}

    We accept exactly that shape, read as ``[authorization_detail]``, so the reference EV
    works unchanged; the detail is then validated like any other. ``emsp_id`` and
    ``redirect_uri`` must be strings but are dropped: the client is already identified,
    and the redirect URI that counts is the request's own ``redirect_uri`` parameter
    (in the spec's example the two differ). Anything looser (a bare detail object,
    missing or extra keys, wrong types) is refused, so the exception stays one shape wide.
    """
    keys = set(value)
    if keys != WRAPPER_KEYS:
        raise InvalidAuthorizationDetails(_not_the_wrapper(keys), (PARAMETER,))
    for key in ("emsp_id", "redirect_uri"):
        if not isinstance(value[key], str):
            raise InvalidAuthorizationDetails(f"must be a string, not {a_json_type(value[key])}", (PARAMETER, key))
    detail = value["authorization_detail"]
    if not isinstance(detail, dict):
        raise InvalidAuthorizationDetails(
            f"must be a JSON object, not {a_json_type(detail)}", (PARAMETER, "authorization_detail"))
    return detail


def _not_the_wrapper(keys: set[str]) -> str:
    if "type" in keys and not keys & WRAPPER_KEYS:
        return "must be a JSON array of authorization details objects: put a single detail in [ ]"
    reason = ("must be a JSON array of authorization details objects; a single object is accepted"
              " only as the wrapper {emsp_id, redirect_uri, authorization_detail}")
    missing = sorted(WRAPPER_KEYS - keys)
    unexpected = sorted(keys - WRAPPER_KEYS)
    if missing:
        reason += f"; missing: {', '.join(missing)}"
    if unexpected:
        shown = ", ".join(snippet(key) for key in unexpected[:3])
        reason += f"; unexpected: {shown}" + (", ..." if len(unexpected) > 3 else "")
    return reason


# ---------------------------------------------------------------------------------------
# Schema errors in plain words

def _type_phrase(expected: str | list[str]) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    return " or ".join(_TYPE_PHRASES.get(name, name) for name in names)


def schema_problem(error: ValidationError) -> InvalidAuthorizationDetails:
    """A jsonschema error as a description of our own.

    jsonschema's messages quote the whole offending value, which could be anything the
    client sent; ours name the field and say what was expected. A subschema's
    ``description`` says what a string with a ``pattern`` should look like.
    """
    path: Path = tuple(error.absolute_path)
    keyword, expected, schema, instance = error.validator, error.validator_value, error.schema, error.instance
    if keyword == "required":
        missing = next(name for name in expected if name not in instance)
        return InvalidAuthorizationDetails("is required", (*path, missing))
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return _unknown_property(schema, instance, path)
    if keyword == "type":
        return InvalidAuthorizationDetails(f"must be {_type_phrase(expected)}, not {a_json_type(instance)}", path)
    if keyword == "const":
        return InvalidAuthorizationDetails(f"must be {snippet(expected, 64)}", path)
    if keyword == "enum":
        return InvalidAuthorizationDetails(f"must be one of {', '.join(snippet(v) for v in expected)}", path)
    if keyword == "maxLength":
        return InvalidAuthorizationDetails(f"is too long (at most {expected} characters)", path)
    if keyword == "minLength":
        return InvalidAuthorizationDetails("must not be empty" if expected == 1
                                           else f"is too short (at least {expected} characters)", path)
    if keyword in ("pattern", "format") and "description" in schema:
        return InvalidAuthorizationDetails(f"must be {schema['description']}", path)
    return InvalidAuthorizationDetails(f"is invalid ({keyword})", path)


def _unknown_property(schema: dict, instance: dict, path: Path) -> InvalidAuthorizationDetails:
    known = list(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    extra = sorted(key for key in instance
                   if key not in known and not any(re.search(p, key) for p in patterns))
    allowed = ", ".join(known) if known else "none"
    where = (*path, extra[0]) if extra else path
    return InvalidAuthorizationDetails(f"is not a known property (allowed: {allowed})", where)


# ---------------------------------------------------------------------------------------
# The authorization server's registry

default_registry = Registry()


def register(detail_type: DetailType) -> DetailType:
    return default_registry.register(detail_type)


def get(name: str) -> DetailType:
    return default_registry.get(name)


def names() -> list[str]:
    return default_registry.names()


def parse(raw: str | None, *, now: datetime, allowed_types: Iterable[str] | None = None) -> list[dict]:
    return default_registry.parse(raw, now=now, allowed_types=allowed_types)


def describe(details: Iterable[dict]) -> list[dict]:
    return default_registry.describe(details)

"""Payload validation against the JSON schemas shipped with the `ocpp` package.

We never hand-write OCPP schemas; we only decide which errorCode a violation earns.
"""
from decimal import Decimal
from functools import lru_cache
from importlib import resources
import json

import jsonschema
from jsonschema.validators import validator_for

from .errors import Problem, RpcError
from .versions import OcppVersion

_SCHEMA_PACKAGE = {OcppVersion.V16: "ocpp.v16", OcppVersion.V201: "ocpp.v201"}

# jsonschema keyword → what kind of violation it is.
_KEYWORD_PROBLEM = {
    "type": Problem.TYPE,
    "required": Problem.INCOMPLETE,
    "additionalProperties": Problem.PAYLOAD_SYNTAX,
    "minItems": Problem.OCCURRENCE,
    "maxItems": Problem.OCCURRENCE,
    "uniqueItems": Problem.OCCURRENCE,
}


def _schema_name(version: OcppVersion, action: str, response: bool) -> str:
    if response:
        return f"{action}Response.json"
    return f"{action}.json" if version is OcppVersion.V16 else f"{action}Request.json"


@lru_cache(maxsize=None)
def _schema_files(version: OcppVersion) -> frozenset[str]:
    folder = resources.files(_SCHEMA_PACKAGE[version]).joinpath("schemas")
    return frozenset(p.name for p in folder.iterdir() if p.name.endswith(".json"))


def is_known_action(version: OcppVersion, action: str) -> bool:
    """Whether `action` is an OCPP message of this version (in either direction)."""
    version = OcppVersion(version)
    return _schema_name(version, action, response=False) in _schema_files(version)


@lru_cache(maxsize=None)
def _validator(version: OcppVersion, action: str, response: bool):
    name = _schema_name(version, action, response)
    path = resources.files(_SCHEMA_PACKAGE[version]).joinpath("schemas", name)
    # 2.0.1 schemas start with a byte order mark.
    schema = json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal)
    cls = validator_for(schema, default=jsonschema.Draft4Validator)
    return cls(schema)


def validate(version: OcppVersion, action: str, payload: dict, *, response: bool = False,
             message_id: str = "-1") -> None:
    """Raise RpcError unless `payload` is a valid request (or response) of `action`."""
    version = OcppVersion(version)
    validator = _validator(version, action, response)
    error = jsonschema.exceptions.best_match(validator.iter_errors(payload))
    if error is None:
        return
    problem = _KEYWORD_PROBLEM.get(error.validator, Problem.PROPERTY)
    if error.validator == "type" and not error.absolute_path:
        problem = Problem.PAYLOAD_SYNTAX  # the payload itself is not an object
    where = "/".join(str(p) for p in error.absolute_path) or "(payload)"
    raise RpcError(
        problem,
        f"{where}: {error.message}"[:250],
        details={"field": where, "constraint": error.validator},
        message_id=message_id,
    )

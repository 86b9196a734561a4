"""RPC error codes, which differ between versions in name and in number.

Code elsewhere asks for an error by what went wrong (`Problem`); this module names it
the way the connection's version spells it (1.6 has `FormationViolation` and the
misspelt `OccurenceConstraintViolation`; 2.0.1 has `FormatViolation`,
`OccurrenceConstraintViolation`, `RpcFrameworkError` and `MessageTypeNotSupported`).
"""
from enum import Enum

from .versions import OcppVersion


class Problem(Enum):
    INVALID_JSON = "invalid_json"
    BAD_FRAME = "bad_frame"  # not an RPC frame: wrong shape, unreadable id, bad types
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    NOT_IMPLEMENTED = "not_implemented"  # action unknown
    NOT_SUPPORTED = "not_supported"  # action known, but not one we serve
    PAYLOAD_SYNTAX = "payload_syntax"  # payload not an object / not the PDU's structure
    INCOMPLETE = "incomplete"  # a required field is missing
    TYPE = "type"
    PROPERTY = "property"
    OCCURRENCE = "occurrence"
    SECURITY = "security"
    INTERNAL = "internal"
    GENERIC = "generic"


_V16 = {
    Problem.INVALID_JSON: "FormationViolation",
    Problem.BAD_FRAME: "FormationViolation",
    Problem.UNKNOWN_MESSAGE_TYPE: None,  # 1.6 §4.1.3: ignore the message
    Problem.NOT_IMPLEMENTED: "NotImplemented",
    Problem.NOT_SUPPORTED: "NotSupported",
    Problem.PAYLOAD_SYNTAX: "FormationViolation",
    Problem.INCOMPLETE: "ProtocolError",
    Problem.TYPE: "TypeConstraintViolation",
    Problem.PROPERTY: "PropertyConstraintViolation",
    Problem.OCCURRENCE: "OccurenceConstraintViolation",  # sic, as 1.6 spells it
    Problem.SECURITY: "SecurityError",
    Problem.INTERNAL: "InternalError",
    Problem.GENERIC: "GenericError",
}

_V201 = {
    Problem.INVALID_JSON: "FormatViolation",
    Problem.BAD_FRAME: "RpcFrameworkError",
    Problem.UNKNOWN_MESSAGE_TYPE: "MessageTypeNotSupported",
    Problem.NOT_IMPLEMENTED: "NotImplemented",
    Problem.NOT_SUPPORTED: "NotSupported",
    Problem.PAYLOAD_SYNTAX: "FormatViolation",
    # 2.0.1 models a missing required field as a cardinality (1..1) violation.
    Problem.INCOMPLETE: "OccurrenceConstraintViolation",
    Problem.TYPE: "TypeConstraintViolation",
    Problem.PROPERTY: "PropertyConstraintViolation",
    Problem.OCCURRENCE: "OccurrenceConstraintViolation",
    Problem.SECURITY: "SecurityError",
    Problem.INTERNAL: "InternalError",
    Problem.GENERIC: "GenericError",
}

CODES = {OcppVersion.V16: _V16, OcppVersion.V201: _V201}


def error_code(version: OcppVersion, problem: Problem) -> str | None:
    """The errorCode for `problem`, or None when the version says to stay silent."""
    return CODES[OcppVersion(version)][problem]


def valid_codes(version: OcppVersion) -> frozenset[str]:
    """Every errorCode a peer of this version may send us."""
    if OcppVersion(version) is OcppVersion.V16:
        return frozenset(c for c in _V16.values() if c)
    return frozenset(c for c in _V201.values() if c) | {"ProtocolError"}


class RpcError(Exception):
    """A failure to be answered with a CALLERROR."""

    def __init__(self, problem: Problem, description: str = "", details: dict | None = None,
                 message_id: str = "-1"):
        super().__init__(description or problem.value)
        self.problem = problem
        self.description = description
        self.details = details or {}
        self.message_id = message_id

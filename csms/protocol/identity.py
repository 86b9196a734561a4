"""What a station identity may be: the rule every writer of `Station.identity` applies
(`Station.identity_problems`), per protocol. Pure: no Django.

For every protocol (OCPP-J 1.6 §3.1.1, 2.0.1 part 4 §3.1.1, white paper A00.FR.204):
the identity is the last segment of the connection URL, percent-encoded as needed, and
the HTTP Basic username, so it may not hold ':' (the username/password separator);
1.6 sets no other limit. We also refuse what no station can send as typed and no
operator can read back: control characters (a newline from a CSV cell left unquoted; the
line and paragraph separators U+2028/U+2029 too),
spaces at either end (trimmed by every form and CSV reader), and the dot segments '.'
and '..' (resolved away in any URL). The column holds 255.

OCPP 2.0.1 (part 4 §3.1.1): identifierString of at most 48 characters, i.e. only
`a-z A-Z 0-9 * - _ = + | @ .` (its ':' excluded, as above). Its own example
"RDAM 123" breaks that rule; it is a valid 1.6 identity only.

Existing stations that break a rule made later keep working: only writes are checked.
"""
import re
import unicodedata
from collections.abc import Iterable

from .versions import OcppVersion

MAX_LENGTH = 255
MAX_LENGTH_201 = 48
_IDENTIFIER_STRING = re.compile(r"[A-Za-z0-9*\-_=+|@.]*")


def problems(identity: str, protocols: Iterable[str] = ()) -> list[str]:
    """What is wrong with `identity` for a station that may speak `protocols` (empty:
    the rule for every protocol only); [] when it is fine."""
    found = _common_problems(identity)
    if not found and OcppVersion.V201 in set(protocols):
        found = _v201_problems(identity)
    return found


def _common_problems(identity: str) -> list[str]:
    if not identity:
        return ["identity is empty"]
    found = []
    if len(identity) > MAX_LENGTH:
        found.append(f"identity is {len(identity)} characters long; at most {MAX_LENGTH}")
    if ":" in identity:
        found.append("identity may not contain ':' (it is the HTTP Basic username)")
    # lib/labels.py's categories (controls, invisible formatting, line and paragraph
    # separators, which break a line in a table or a CSV viewer as a newline does) and
    # lone surrogates.
    control = sorted({f"U+{ord(c):04X}" for c in identity if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")})
    if control:
        found.append(f"identity contains control characters ({', '.join(control)}); "
                     "an unterminated quote in a CSV file makes one of several lines")
    if identity != identity.strip():
        found.append("identity begins or ends with a space")
    if identity in (".", ".."):
        # RFC 3986 §5.2.4: clients and browsers resolve these as path steps, so the
        # station's URL (and its portal page) would lead to another address.
        found.append(f"identity may not be {identity!r}: in a URL it is a step along the path")
    return found


def _v201_problems(identity: str) -> list[str]:
    found = []
    if len(identity) > MAX_LENGTH_201:
        found.append(f"identity is {len(identity)} characters long; OCPP 2.0.1 allows {MAX_LENGTH_201}")
    odd = sorted(set(_IDENTIFIER_STRING.sub("", identity)))
    if odd:
        found.append(f"identity contains {''.join(odd)!r}: OCPP 2.0.1 allows only letters a-z A-Z, "
                     "digits and * - _ = + | @ .")
    if found:
        found[-1] += " (a station that speaks only 1.6: give it protocols ocpp1.6)"
    return found

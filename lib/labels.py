"""The one rule for text an operator types to name something (token labels, client
names, campaign names, key ids, trust records' issuers and subjects, …): no character
of Unicode category Cc (controls: NUL, newlines, escape, C1) or Cf (invisible
formatting: the bidi embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069,
the marks U+200E/U+200F/U+061C, zero-width spaces and joiners, the soft hyphen, …),
nor the line and paragraph separators U+2028/U+2029 (Zl, Zp), which break lines as a
newline does.

Such a name is shown in tables, confirmations and the audit log, and exported as CSV: a
right-to-left override makes "cabinet‮4 tset" read as something else, a newline starts a
line of the typist's choosing. Portal forms, REST serializers, the CLI and the services
behind them all ask this module, so the rule and its message are the same everywhere."""
import unicodedata

from django.core.exceptions import ValidationError

REFUSED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


class LabelError(ValueError):
    pass


def problem(text: str) -> str | None:
    """Why `text` cannot be a label, or None: names the first refused character."""
    for char in text:
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            name = unicodedata.name(char, "a control character")
            return f"no control or invisible formatting characters (found U+{ord(char):04X} {name})"
    return None


def check(text: str, what: str = "label") -> str:
    """`text` if it may be a label; else LabelError saying what and why."""
    found = problem(text)
    if found:
        raise LabelError(f"{what}: {found}")
    return text


def printable_label(value: str) -> None:
    """The same rule as a Django / REST framework field validator."""
    found = problem(value or "")
    if found:
        raise ValidationError(found, code="unprintable")

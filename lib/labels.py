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
from django.core.exceptions import ValidationError

from .label_rule import REFUSED_CATEGORIES, problem  # noqa: F401  (the rule lives there)


class LabelError(ValueError):
    pass


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

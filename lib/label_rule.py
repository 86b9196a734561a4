"""The rule of `lib.labels` without Django, for pure modules (`pnc.profile` checks the
names in certificates it is given with it): which characters a label may not hold, and
the message that names the first one. `lib.labels` is the module everyone else asks."""
import unicodedata

REFUSED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def problem(text: str) -> str | None:
    """Why `text` cannot be a label, or None: names the first refused character."""
    for char in text:
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            name = unicodedata.name(char, "a control character")
            return f"no control or invisible formatting characters (found U+{ord(char):04X} {name})"
    return None

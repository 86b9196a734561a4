"""Text with a NUL names nothing: every text lookup with one matches no row.

PostgreSQL cannot hold U+0000 in text at all, and refuses a query parameter containing
one with an error rather than "no match"; SQLite compares it like any character. So a
station path `/ocpp/demo/AL1000%00`, a Basic username `ops\\x00` or an API URL with
`%00` answered 5xx on PostgreSQL and 404/401 on SQLite. Since no stored text can
contain a NUL (PostgreSQL refuses it, and every way in refuses it before the database:
Django's and DRF's form fields, the OCPP payload check in `csms.protocol.values`), a
comparison with such a value is simply false — on both backends, for every caller
(ORM filters, `get_by_natural_key`, DOT's lookups), without each one checking first.

The lookups raise `EmptyResultSet`, as Django's own `In` does for an empty list, so the
WHERE clause composes correctly: `exclude(name="a\\x00")` still matches every row.
"""
from django.core.exceptions import EmptyResultSet
from django.db.models import CharField, TextField, lookups


def names_nothing(value) -> bool:
    return isinstance(value, str) and "\x00" in value


class _NulMatchesNothing:
    def as_sql(self, compiler, connection):
        if self.rhs_is_direct_value() and names_nothing(self.rhs):
            raise EmptyResultSet
        return super().as_sql(compiler, connection)


class NulIn(lookups.In):
    def as_sql(self, compiler, connection):
        if self.rhs_is_direct_value():
            # What is left may be empty: `In` then raises EmptyResultSet itself.
            self.rhs = [v for v in self.rhs if not names_nothing(v)]
        return super().as_sql(compiler, connection)


_PATTERN_LOOKUPS = [lookups.Exact, lookups.IExact, lookups.Contains, lookups.IContains,
                    lookups.StartsWith, lookups.IStartsWith, lookups.EndsWith, lookups.IEndsWith]


def install() -> None:
    """Register the lookups on the text fields (and so on their subclasses)."""
    for field in (CharField, TextField):
        for base in _PATTERN_LOOKUPS:
            field.register_lookup(type(f"Nul{base.__name__}", (_NulMatchesNothing, base), {}))
        field.register_lookup(NulIn)

"""Read queries of a fixed shape, compiled once per process instead of on every call.

Why: for the short indexed reads of a station handshake, a token request or a meter
value, Django spends far longer building and compiling the query than the database
spends running it (the tenant read of a token request: 0.22 ms to build the queryset,
0.29 ms to compile it, 0.06 ms to run it; docs/performance.md). A `Prepared` query keeps
the ORM as the one description of the query and pays for it once:

    station_by_identity = Prepared(lambda slug, identity: Station.objects.filter(
        tenant__slug=slug, identity=identity).select_related("tenant")[:1], slug=str, identity=str)
    rows = station_by_identity(slug="acme", identity="CP1")

The builder is run once per database alias with a unique sample value for each
parameter; the compiled SQL's parameters are searched for those samples, and later
calls put their own values in the same places. That is only sound for parameters the
ORM passes to the database as they are, so parameters are `str` or `int`, each must be
found in the parameters unchanged (not inside a LIKE pattern, not case-folded): anything
else is refused at compile time (`TypeError`). A parameter may also be `Many(int, n)`:
exactly n integers, for an `__in` lookup (the caller pads a short list with repeats, which
`IN` ignores), so a pass over thousands of rows in chunks compiles once, not per chunk. Results are built as the queryset would
build them: model instances (with `select_related` and annotations), or `values_list`
rows (flat or not). Everything else about the query (constants, ordering, slicing) is
part of its shape.
"""
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections, router
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    QuerySet,
    ValuesListIterable,
    get_related_populators,
)

from lib import plain_sql

# Within 32 bits: the ORM turns an exact lookup beyond an integer field's range into "no rows".
_samples = itertools.count(2_000_000_001)


@dataclass(frozen=True)
class Many:
    """A parameter of exactly `count` integers: an `__in` list of ids. (Integers only: a
    NUL in one string would make the whole call answer nothing, as below.)"""

    kind: type
    count: int

    def __post_init__(self):
        if self.kind is not int or self.count < 1:
            raise TypeError("Many takes int and a count of at least one")


def padded(values: list, count: int) -> list:
    """`values` (1..count of them) made `count` long by repeating the last: the same `IN`."""
    if not 0 < len(values) <= count:
        raise ValueError(f"{len(values)} values for a list of {count}")
    return [*values, *[values[-1]] * (count - len(values))]


@dataclass(frozen=True)
class _Compiled:
    sql: plain_sql.Statement
    params: tuple
    slots: dict  # parameter name -> [(position in params, index in a Many's values or None)]
    converters: list  # [(position, (converters, expression))]
    build_row: Callable  # row (list) -> result


class Prepared:
    def __init__(self, build: Callable[..., QuerySet], **types: type):
        for name, kind in types.items():
            if not isinstance(kind, Many) and kind not in (str, int):
                raise TypeError(f"parameter {name}: only str and int parameters can be prepared")
        self._build, self._types = build, types
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def __call__(self, **values) -> list:
        if values.keys() != self._types.keys():
            raise TypeError(f"expected parameters {sorted(self._types)}, got {sorted(values)}")
        model = self._model()
        alias = router.db_for_read(model)
        compiled = self._compiled.get(alias) or self._compile(alias)
        params = list(compiled.params)
        for name, value in values.items():
            self._check(name, value)
        for name, places in compiled.slots.items():
            value = values[name]
            for position, index in places:
                params[position] = value if index is None else value[index]
        if any(isinstance(value, str) and "\x00" in value for value in values.values()):
            return []  # as the ORM answers a NUL in a lookup (PostgreSQL cannot even compare one)
        connection = connections[alias]
        with plain_sql.cursor(connection) as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        out = []
        for row in rows:
            row = list(row)
            for position, (convs, expression) in compiled.converters:
                value = row[position]
                for converter in convs:
                    value = converter(value, expression, connection)
                row[position] = value
            out.append(compiled.build_row(row))
        return out

    def _check(self, name: str, value) -> None:
        kind = self._types[name]
        if isinstance(kind, Many):
            if not isinstance(value, list | tuple) or len(value) != kind.count:
                raise TypeError(f"parameter {name} must be {kind.count} values (lib.prepared.padded)")
            items, kind = value, kind.kind
        else:
            items = (value,)
        for item in items:
            if type(item) is not kind:  # noqa: E721  (bool is no int here)
                raise TypeError(f"parameter {name} must be {kind.__name__}")

    def first(self, **values):
        rows = self(**values)
        return rows[0] if rows else None

    def _model(self):
        model = getattr(self, "_model_cls", None)
        if model is None:
            model = self._model_cls = self._sample_queryset()[0].model
        return model

    def _sample_queryset(self):
        # A string sample with LIKE's special characters and both cases: a lookup that
        # escapes, folds or wraps its value cannot pass it through unchanged, and is refused.
        def sample(name, kind):
            return f"Prepared%_Sample\\{name}-{next(_samples)}" if kind is str else next(_samples)

        samples = {name: ([sample(name, kind.kind) for _ in range(kind.count)] if isinstance(kind, Many)
                          else sample(name, kind))
                   for name, kind in self._types.items()}
        return self._build(**samples), samples

    def _compile(self, alias: str) -> _Compiled:
        with self._lock:
            if alias in self._compiled:
                return self._compiled[alias]
            queryset, samples = self._sample_queryset()
            compiler = queryset.query.get_compiler(using=alias)
            sql, params = compiler.as_sql()
            slots = {}
            for name, sample in samples.items():
                many = isinstance(sample, list)
                slots[name] = []
                for index, one in enumerate(sample if many else [sample]):
                    places = _places(name, one, params)
                    slots[name] += [(position, index if many else None) for position in places]
            fields = [s[0] for s in compiler.select[0:compiler.col_count]]
            converters = list(compiler.get_converters(fields).items())
            compiled = _Compiled(plain_sql.statement(connections[alias], sql), tuple(params), slots, converters,
                                 _row_builder(queryset, compiler, alias))
            self._compiled[alias] = compiled
            return compiled


def _places(name: str, sample, params) -> list[int]:
    """Where `sample` sits in the compiled parameters, or TypeError if it was changed."""
    if isinstance(sample, str) and any(isinstance(p, str) and sample in p and p != sample for p in params):
        raise TypeError(f"parameter {name} is transformed (a pattern or a function of it)")
    places = [i for i, p in enumerate(params) if type(p) is type(sample) and p == sample]
    if not places:
        raise TypeError(f"parameter {name} does not reach the database unchanged")
    return places


def _row_builder(queryset: QuerySet, compiler, alias: str) -> Callable:
    """How a row becomes what iterating the queryset would give (as Django's iterables do)."""
    iterable = queryset._iterable_class
    if iterable is FlatValuesListIterable:
        return lambda row: row[0]
    if iterable is ValuesListIterable:
        if queryset.query.extra_select or queryset.query.annotation_select:
            raise TypeError("values_list with extra or annotated columns is not prepared")
        return tuple
    if iterable is not ModelIterable:
        raise TypeError(f"{iterable.__name__} results are not prepared")
    if queryset._known_related_objects or queryset._prefetch_related_lookups:
        raise TypeError("related-manager and prefetch querysets are not prepared")
    klass_info, select = compiler.klass_info, compiler.select
    model_cls = klass_info["model"]
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    init_list = [f[0].target.attname for f in select[start:end]]
    related = get_related_populators(klass_info, select, alias)
    annotations = list(compiler.annotation_col_map.items())

    def build(row):
        obj = model_cls.from_db(alias, init_list, row[start:end])
        for populator in related:
            populator.populate(row, obj)
        for name, position in annotations:
            setattr(obj, name, row[position])
        return obj
    return build

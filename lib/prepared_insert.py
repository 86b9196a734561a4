"""A new row written as `Model.save()` writes it, with its INSERT built once per database.

Why: a token request writes two rows (the spent assertion jti and the token record).
Through `Model.save()` each INSERT is rebuilt and recompiled on every call: about a
third of the token view's CPU (yappi under bench/oauth_tokens.py). Here the statement is
built once per database alias from the model's fields; a call only prepares the values
the way the ORM's insert compiler does (each field's `pre_save(obj, add=True)`, then its
`get_db_prep_save`), runs the statement, and sets the new primary key:

    insert_token = PreparedInsert(AccessToken)
    insert_token(record)            # instead of record.save() for a new record

What `save()` does that this does not is refused rather than skipped: models with
`pre_save`/`post_save` receivers, a `save()` of their own, parent models (multi-table
inheritance), fields with their own SQL placeholder, or database-computed columns other
than the primary key. The caller's transaction applies, as for `save()`.
"""
import threading

from django.db import connections, router
from django.db.models import Model, signals

from lib import plain_sql

_OWN_SAVE = Model.save


class PreparedInsert:
    def __init__(self, model: type[Model]):
        meta = model._meta
        if model.save is not _OWN_SAVE:
            raise TypeError(f"{meta.label} has its own save(); it would be skipped")
        if meta.parents:
            raise TypeError(f"{meta.label} inherits from a concrete model; not supported")
        for field in meta.local_concrete_fields:
            if hasattr(field, "get_placeholder"):
                raise TypeError(f"{meta.label}.{field.name} has its own SQL placeholder")
        if [f for f in meta.db_returning_fields if f is not meta.pk]:
            raise TypeError(f"{meta.label} has database-computed columns besides its key")
        self.model = model
        self._statements: dict[str, tuple[plain_sql.Statement, list, bool]] = {}
        self._lock = threading.Lock()

    def __call__(self, obj: Model, using: str | None = None) -> Model:
        model = self.model
        if type(obj) is not model:
            raise TypeError(f"expected a {model._meta.label}, got {type(obj).__name__}")
        if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
            raise TypeError(f"{model._meta.label} has save signal receivers; use save()")
        if obj.pk is not None and model._meta.auto_field is not None:
            raise ValueError(f"this {model._meta.label} already has a key; save() it")
        alias = using or router.db_for_write(model, instance=obj)
        connection = connections[alias]
        sql, fields, returns_key = self._statement(alias)
        params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
        with plain_sql.cursor(connection) as cursor:
            cursor.execute(sql, params)
            if returns_key:
                (key,) = cursor.fetchone()
            elif model._meta.auto_field is not None:
                key = connection.ops.last_insert_id(cursor, model._meta.db_table, model._meta.pk.column)
            else:
                key = obj.pk
        obj.pk = key
        obj._state.adding, obj._state.db = False, alias
        return obj

    def _statement(self, alias: str) -> tuple[plain_sql.Statement, list, bool]:
        found = self._statements.get(alias)
        if found is None:
            with self._lock:
                found = self._statements.get(alias) or self._build(alias)
                self._statements[alias] = found
        return found

    def _build(self, alias: str) -> tuple[plain_sql.Statement, list, bool]:
        meta, connection = self.model._meta, connections[alias]
        auto = meta.auto_field
        # The database draws an auto key; any other key (a UUID default) is a value.
        fields = [f for f in meta.local_concrete_fields if f is not auto]
        quote = connection.ops.quote_name
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(meta.db_table), ", ".join(quote(f.column) for f in fields), ", ".join(["%s"] * len(fields)))
        returns_key = auto is not None and connection.features.can_return_columns_from_insert
        if returns_key:
            returning, _ = connection.ops.return_insert_columns([meta.pk])
            sql += " " + returning
        return plain_sql.statement(connection, sql), fields, returns_key

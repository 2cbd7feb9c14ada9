"""Small database helpers shared by the apps' services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field, Model


def update_rows(objs: Sequence[Model], fields: Sequence[str]) -> None:
    """Write `fields` of each object to its row by primary key, as `QuerySet.bulk_update` does but
    without its per-row CASE expressions (which cost milliseconds per row to compile): one
    `UPDATE ... FROM (VALUES ...)`.
    Values are converted by each field (`get_db_prep_save`) exactly as the ORM saves them; row
    triggers fire per row as for any UPDATE."""
    if not objs:
        return
    meta = objs[0]._meta
    model_fields: list[Field[Any, Any]] = []
    for name in fields:
        field = meta.get_field(name)
        if not isinstance(field, Field) or field.column is None:
            raise TypeError(f"{meta.label}.{name} is not a concrete column")
        model_fields.append(field)
    pk = meta.pk
    assert pk is not None
    table = connection.ops.quote_name(meta.db_table)
    columns = [connection.ops.quote_name(f.column) for f in model_fields]
    conn = connections[DEFAULT_DB_ALIAS]
    rows = [
        [f.get_db_prep_save(getattr(obj, f.attname), conn) for f in model_fields]
        + [pk.get_db_prep_save(obj.pk, conn)]
        for obj in objs
    ]
    types = [f.db_type(connection) for f in [*model_fields, pk]]
    types = ["bigint" if t in ("bigserial", "serial") else t for t in types]
    row_sql = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    names = [*columns, connection.ops.quote_name("_pk")]
    sets = ", ".join(f"{c} = v.{c}" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {sets} FROM (VALUES "  # noqa: S608 (names from the model)
            + ", ".join([row_sql] * len(rows))
            + f") AS v({', '.join(names)}) WHERE t.{connection.ops.quote_name(pk.column)} = v._pk",
            [value for row in rows for value in row],
        )


def insert_rows(objs: Sequence[Model]) -> None:
    """Insert new objects of one model with multi-row `INSERT ... VALUES ... RETURNING pk` statements
    and set their primary keys, as `QuerySet.bulk_create` does for plain rows but without its per-value
    compilation (or its UNNEST arrays, which psycopg quotes element by element in Python). Values are converted by each field (`pre_save`, then `get_db_prep_save`) exactly as the ORM
    saves them. No signals, no expressions, no conflict handling."""
    if not objs:
        return
    meta = objs[0]._meta
    pk = meta.pk
    assert pk is not None
    fields = [f for f in meta.concrete_fields if f is not pk]
    conn = connections[DEFAULT_DB_ALIAS]  # the object itself, not the thread-local proxy, per value
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    batch = max(connection.ops.bulk_batch_size(["pk", *fields], list(objs)), 1)
    with connection.cursor() as cursor:
        for i in range(0, len(objs), batch):
            part = objs[i : i + batch]
            params = [f.get_db_prep_save(f.pre_save(obj, True), conn) for obj in part for f in fields]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608 (names from the model)
                + ", ".join([row_sql] * len(part))
                + f" RETURNING {connection.ops.quote_name(pk.column)}",
                params,
            )
            for obj, (value,) in zip(part, cursor.fetchall(), strict=True):
                setattr(obj, pk.attname, value)
                obj._state.adding = False
                obj._state.db = connection.alias


def copy_rows(objs: Sequence[Model]) -> None:
    """Insert new objects of one model whose primary keys the caller does not need: `COPY ... FROM STDIN`
    (rows formatted by psycopg's C dumpers; row and statement triggers, constraints and foreign keys
    apply as for INSERT). The objects' primary keys stay unset."""
    if not objs:
        return
    meta = objs[0]._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    conn = connections[DEFAULT_DB_ALIAS]
    table = conn.ops.quote_name(meta.db_table)
    columns = ", ".join(conn.ops.quote_name(f.column) for f in fields)
    with conn.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for obj in objs:
            copy.write_row([f.get_db_prep_save(f.pre_save(obj, True), conn) for f in fields])

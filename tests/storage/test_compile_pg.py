"""How the PostgreSQL fast path writes statements: a reused statement's plain constants go into its
SQL text (so PostgreSQL can keep one generic plan that uses partial indexes), nothing a caller could
have written is ever inlined, and a one-off statement keeps every value a parameter."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select, update

from proctor.storage.sql import compile_pg

T = Table("things", MetaData(), Column("id", Integer), Column("status", String), Column("note", String))


def test_a_reused_statement_gets_its_constants_inline() -> None:
    statement = (
        update(T)
        .where(T.c.id == bindparam("id"), T.c.status.in_(("OPEN", "RUNNING")))
        .values(status="CLOSED")
    )
    first = compile_pg(statement)
    assert "'CLOSED'" not in first.sql and len(first.names) == 4, "first use: every value a parameter"
    again = compile_pg(statement)
    assert "status='CLOSED'" in again.sql and "IN ('OPEN', 'RUNNING')" in again.sql
    assert again.names == ("id",) and again.args({"id": 7}) == [7]
    assert compile_pg(statement) is again, "compiled twice at most"


@pytest.mark.parametrize("value", ["it's", "back\\slash", "two words", "", "x" * 65, "semi;colon"])
def test_only_plain_words_are_written_inline(value: str) -> None:
    statement = select(T.c.id).where(T.c.note == value, T.c.status == "OPEN").limit(1)
    compile_pg(statement)
    compiled = compile_pg(statement)
    assert "'OPEN'" in compiled.sql and "LIMIT 1" in compiled.sql
    assert value not in compiled.sql or value == "", "the odd value stays a parameter"
    assert value in compiled.args(None)


def test_a_constant_cannot_be_overridden_at_call_time() -> None:
    statement = update(T).where(T.c.id == bindparam("id")).values(note="fixed")
    compile_pg(statement)
    compiled = compile_pg(statement)
    assert "'fixed'" in compiled.sql
    (key,) = compiled.inlined
    with pytest.raises(TypeError, match="were given as parameters"):
        compiled.args({"id": 1, key: "other"})

"""Alembic environment: always called with a live connection by proctor.storage.migrate."""

from __future__ import annotations

from alembic import context

from proctor.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `proctor db upgrade` (proctor.storage.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    compare_type=True,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()

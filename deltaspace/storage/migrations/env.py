"""Alembic environment: runs on the connection that ``alembic_config(connection)`` carries."""

from __future__ import annotations

from typing import Any

from alembic import context

from deltaspace.storage.migrations import VERSION_TABLE
from deltaspace.storage.models import Base


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate looks at deltaspace's tables only; Optuna's may share the database."""
    return type_ != "table" or (name or "").startswith("ds_")


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode() or connection is None:
        raise RuntimeError(
            "deltaspace migrations run on a live connection: use deltaspace.storage.migrations.upgrade(url)"
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_object=_ours,
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

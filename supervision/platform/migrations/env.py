"""Alembic environment: runs the migrations on the connection `supervision.platform.db` hands over (no
alembic.ini)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from supervision.platform.db import UtcDateTime, import_models

config = context.config
target_metadata = import_models()


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations stay self-contained: spell the project's column types with plain SQLAlchemy ones.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations() -> None:
    if context.is_offline_mode():
        raise RuntimeError(
            "offline (--sql) migrations are not supported; use supervision.platform.db.upgrade"
        )
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "no connection: run migrations through supervision.platform.db.upgrade(engine) "
            "or `creditwatch db upgrade`"
        )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

"""The audit log's append-only triggers fire always on PostgreSQL, even under session_replication_role.

A session that sets ``session_replication_role = replica`` (any role allowed to set it) skips ordinary
triggers, which let it rewrite or delete audit entries. ``ENABLE ALWAYS`` triggers fire in that mode too;
only the table's owner can switch them off (``ALTER TABLE … DISABLE TRIGGER``), and the signed checkpoints
outside the database still catch what such an owner changes. SQLite has no replication role (its
``INSERT OR REPLACE`` gap is closed by ``recursive_triggers``, supervision.platform.db).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = (
    ("audit_entries", "audit_entries_append_only"),
    ("audit_entries", "audit_entries_no_truncate"),
    ("audit_chain_head", "audit_chain_head_no_delete"),
    ("audit_chain_head", "audit_chain_head_no_truncate"),
)


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table, trigger in TRIGGERS:
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table, trigger in TRIGGERS:
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")

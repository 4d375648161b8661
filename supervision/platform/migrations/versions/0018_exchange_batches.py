"""Data exchange batches pushed by departments (issue 14): no schema change.

A pushed batch is an ingest batch: the ingest ledger (0001) already records its source (the department), its
content hash and its counts, and the lake batch keeps its quarantined rows, so the exchange needs no table of
its own; the feed's cursor uses positions that exist (lake batch sequence, list event ids, the audit chain).
See docs/exchange.md. The revision is kept so that the numbering stays as assigned.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

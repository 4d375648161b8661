"""Alembic migrations of the operational database (run through `supervision.db.upgrade`)."""

"""Alembic migrations of the operational database (run through `supervision.platform.db.upgrade`)."""

"""The supervisor's pages (being built: see docs/web.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/ui", include_in_schema=False)

"""All page messages, one module per audience (so each page's strings live beside each other); a key defined
twice is an error at import."""

from __future__ import annotations

from serving.web.messages import (
    analyst,
    charts,
    common,
    filings,
    inspector,
    monitoring,
    public,
    publicity,
    sectors,
    supervisor,
    warnings,
    zone,
)


def _merge(*tables: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for table in tables:
        twice = out.keys() & table.keys()
        if twice:
            raise RuntimeError(f"page messages defined twice: {sorted(twice)}")
        out.update(table)
    return out


ALL = _merge(
    common.MESSAGES,
    supervisor.MESSAGES,
    inspector.MESSAGES,
    analyst.MESSAGES,
    charts.MESSAGES,
    monitoring.MESSAGES,
    public.MESSAGES,
    publicity.MESSAGES,
    zone.MESSAGES,
    filings.MESSAGES,
    warnings.MESSAGES,
    sectors.MESSAGES,
)

"""A synthetic city generated and ingested for a benchmark (not a benchmark itself: the leading underscore
keeps it out of ``python -m bench``'s list)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

END = date(2026, 6, 30)  # CityConfig's end_date: the benchmarks' cities end there
SALT = "bench-salt"


def city_lake(
    folder: Path,
    *,
    entities: int,
    years: int = 5,
    seed: int = 0,
    lake: Path | None = None,
    salt: str = SALT,
    today: date = END,
    shock_share: float = 0.0,
    shock_months: int = 24,
) -> Path:
    """``CityConfig(entities, years, seed, end_date=END, shocks)`` generated into ``folder/city`` and ingested
    into ``lake`` (default ``folder/lake``); the lake's folder."""
    from features.ingest import ingest_paths
    from features.synth.city import CityConfig, generate

    config = CityConfig(
        entities=entities,
        years=years,
        seed=seed,
        end_date=END,
        shock_share=shock_share,
        shock_months=shock_months,
    )
    generate(config, folder / "city", today=today)
    lake_dir = lake or folder / "lake"
    ingest_paths([folder / "city"], lake_dir=lake_dir, salt=salt, today=today)
    return lake_dir

"""A synthetic city generated and ingested for a benchmark (not a benchmark itself: the leading underscore
keeps it out of ``python -m bench``'s list)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

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


# ------------------------------------------------------------------------------------- a city in parts
# A city too large to generate in one process (the generator holds about 5 GB per million entities) is
# generated in parts: part i is the city of ``CityConfig(entities / parts, seed + i)``, ingested on its
# own, and its lake batches are copied into the one lake with every identifier made the part's own, so that
# the parts are disjoint cities side by side (no entity, person, address, phone or record of one part is
# another's).
# Part 0 keeps its identifiers: a city in one part is the plain city.
REFERENCES = ("person_key", "licence_id", "basis_document_no", "related_record", "record_id", "task_id")
MAX_PARTS = 100  # the parts' identifiers stay disjoint up to this many (part_uscc, rekey)
USCC_COLUMNS = ("uscc", "related_uscc")  # the entity's own codes; authorities' codes stay the city's


def part_uscc(code: pl.Expr, part: int) -> pl.Expr:
    """A valid USCC of part ``part``: the registering division (positions 3–8) moved by ``part`` × 10,000 (a
    division of another city: codes of different parts never meet) and the check character recomputed."""
    from features.uscc import check_character_expr

    division = (code.str.slice(2, 6).cast(pl.Int64, strict=False) + 10_000 * part) % 1_000_000
    first17 = pl.concat_str(code.str.slice(0, 2), division.cast(pl.String).str.zfill(6), code.str.slice(8, 9))
    moved = pl.concat_str(first17, check_character_expr(first17))
    return pl.when((code.str.len_chars() == 18) & division.is_not_null()).then(moved).otherwise(code)


def rekey(frame: pl.DataFrame, table: str, part: int) -> pl.DataFrame:
    """``frame`` (accepted rows of ``table``) with every identifier made part ``part``'s own: USCCs moved to
    another division, record keys and references (catalog keys, person keys, record ids) suffixed, addresses
    suffixed and phones prefixed (after normalisation they stay distinct). Part 0 is returned as it is."""
    from features.catalog import table as catalog_table

    if part == 0:
        return frame
    ids = (set(catalog_table(table).key) | set(REFERENCES)) - set(USCC_COLUMNS)
    tag = f"-T{part}"

    def suffixed(name: str) -> pl.Expr:
        col = pl.col(name)
        return pl.when(col.is_null() | (col == "")).then(col).otherwise(col + tag).alias(name)

    changes = [part_uscc(pl.col(c), part).alias(c) for c in USCC_COLUMNS if c in frame.columns]
    changes += [suffixed(c) for c in sorted(ids) if c in frame.columns]
    if table == "entities":
        changes += [
            (pl.col("address") + f"T{part}").alias("address"),
            (pl.lit(f"9{part:02d}") + pl.col("phone")).alias("phone"),
        ]
    return frame.with_columns(changes)


def _generate_part(folder: Path, *, size: int, seed: int, salt: str, today: date) -> Path:
    """One part generated and ingested into a lake of its own (runs in a child process); that lake."""
    import shutil

    from features.ingest import ingest_paths
    from features.synth.city import CityConfig, generate

    shutil.rmtree(folder, ignore_errors=True)
    generate(CityConfig(entities=size, seed=seed), folder / "city", today=today)
    ingest_paths([folder / "city"], lake_dir=folder / "lake", salt=salt, today=today)
    shutil.rmtree(folder / "city")
    return folder / "lake"


def _copy_part(own: Path, lake: Path, *, part: int, parts: int) -> None:
    """Every batch of part ``part``'s own lake written into ``lake``, re-keyed (:func:`rekey`); a batch
    already there (a resumed run) is skipped."""
    import hashlib

    from features import lake as lake_io

    with lake_io.writer_lock(lake):
        for batch in lake_io.batches(own):
            content = hashlib.sha256(f"{batch.content_sha256}:part-{part}".encode()).hexdigest()
            if lake_io.find_batch(lake, batch.table, content) is not None:
                continue
            source = own / batch.table / batch.batch_id
            lake_io.write_batch(
                lake,
                table=batch.table,
                source=f"{batch.source} (part {part} of {parts})",
                content_sha256=content,
                accepted=rekey(pl.read_parquet(source / lake_io.ACCEPTED), batch.table, part),
                quarantine=pl.read_parquet(source / lake_io.QUARANTINE),
                rows_read=batch.rows_read,
                rows_quarantined=batch.rows_quarantined,
                ignored_columns=batch.ignored_columns,
                ingested_at=batch.ingested_at,
            )


def city_in_parts(
    work: Path, lake: Path, *, entities: int, parts: int, seed: int, salt: str, today: date, jobs: int = 1
) -> None:
    """``entities`` generated in ``parts`` parts (seeds ``seed`` … ``seed + parts - 1``) into ``lake``:
    ``jobs`` parts at a time in child processes (the generator's memory is that of ``jobs`` parts), each
    copied into ``lake`` in part order (the same lake whatever ``jobs``). Resumable: a part copied whole is
    not made again."""
    import multiprocessing
    import shutil
    from concurrent.futures import ProcessPoolExecutor

    if not 1 <= parts <= MAX_PARTS:
        # Divisions move by part × 10,000 modulo 10^6 and phones take a two-digit part: 100 parts apart meet.
        raise ValueError(f"parts must be 1 … {MAX_PARTS}, got {parts}")
    sizes = [entities // parts + (1 if i < entities % parts else 0) for i in range(parts)]
    todo = [i for i in range(parts) if not (work / f"part-{i}.done").exists()]
    work.mkdir(parents=True, exist_ok=True)
    # Spawned, not forked: a fork of a process whose polars thread pool is running can deadlock.
    with ProcessPoolExecutor(
        max_workers=max(jobs, 1), mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        made = {
            i: pool.submit(
                _generate_part, work / f"part-{i}", size=sizes[i], seed=seed + i, salt=salt, today=today
            )
            for i in todo
        }
        for i in todo:
            own = made[i].result()
            _copy_part(own, lake, part=i, parts=parts)
            shutil.rmtree(own.parent)
            (work / f"part-{i}.done").write_text(f"{sizes[i]}\n")

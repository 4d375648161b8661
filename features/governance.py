"""重错码治理: lake and quarantine frames in, a report of wrong and duplicate codes (rates per 10,000) out.

Three problems the policy tracks, each with its count, its rate per 10,000 registered entities (target
below 1) and the offending rows:

- invalid codes (错码): values quarantined for rule ``uscc``, split by status ``format`` / ``checksum``;
- one code under several names (一码多名): entity registrations across batches and the party names of
  penalties that disagree for the same code;
- one name under several codes (一名多码): registered entities sharing a name.

Names are compared after removing blanks and unifying full-width and half-width brackets, because
exports of the same name differ in exactly those ways.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from features import lake, uscc

TARGET_PER_10K = 1.0
KINDS = {
    "invalid_format": ("错码：格式错误", "invalid code: format"),
    "invalid_checksum": ("错码：校验位错误", "invalid code: check character"),
    "one_code_many_names": ("一码多名", "one code used under several names"),
    "one_name_many_codes": ("一名多码", "one name under several codes"),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One governance problem: how many codes (or names) show it, the rate, and the rows behind it."""

    kind: str
    count: int
    rate_per_10k: float | None  # None when no entity is registered
    rows: pl.DataFrame

    @property
    def zh(self) -> str:
        return KINDS[self.kind][0]

    @property
    def en(self) -> str:
        return KINDS[self.kind][1]

    @property
    def meets_target(self) -> bool:
        return self.rate_per_10k is None or self.rate_per_10k < TARGET_PER_10K

    def to_json(self, *, limit: int | None = None) -> dict[str, Any]:
        rows = self.rows if limit is None else self.rows.head(limit)
        return {
            "kind": self.kind,
            "zh": self.zh,
            "en": self.en,
            "count": self.count,
            "rate_per_10k": self.rate_per_10k,
            "meets_target": self.meets_target,
            "rows": rows.to_dicts(),
        }


@dataclass(frozen=True, slots=True)
class GovernanceReport:
    """The report: registered entities (the rate's denominator) and one finding per kind."""

    entities: int
    findings: tuple[Finding, ...]
    target_per_10k: float = TARGET_PER_10K

    def to_json(self, *, limit: int | None = None) -> dict[str, Any]:
        return {
            "entities": self.entities,
            "target_per_10k": self.target_per_10k,
            "findings": [f.to_json(limit=limit) for f in self.findings],
        }


def normalise_name(name: pl.Expr) -> pl.Expr:
    """A name as compared: no blanks, ASCII brackets (（）→ ())."""
    return (
        name.str.replace_all(r"\s+", "")
        .str.replace_all("（", "(", literal=True)
        .str.replace_all("）", ")", literal=True)
    )


def invalid_codes(quarantine: pl.LazyFrame, *, allow: Iterable[str] = ()) -> pl.LazyFrame:
    """Quarantine rows of rule ``uscc`` with the code's status (``format`` or ``checksum``)."""
    return (
        quarantine.filter(pl.col("rule") == "uscc")
        .with_columns(uscc.verdict_expr(pl.col("value"), allow=list(allow)).alias("status"))
        .select("status", "value", "table", "field", "source", "line", "batch_id")
        .sort(["status", "value", "table", "source", "line"])
    )


def code_name_pairs(entity_versions: pl.LazyFrame, penalties: pl.LazyFrame) -> pl.LazyFrame:
    """Every (code, name) seen: entity registrations of every batch and penalties' party names."""
    return pl.concat(
        [
            entity_versions.select("uscc", "name", pl.lit("entities.name").alias("seen_in")),
            penalties.select(
                "uscc", pl.col("party_name").alias("name"), pl.lit("penalties.party_name").alias("seen_in")
            ),
        ]
    ).drop_nulls(["uscc", "name"])


def one_code_many_names(pairs: pl.LazyFrame) -> pl.LazyFrame:
    """Codes seen under more than one (normalised) name, one row per (code, name, where) with its count."""
    pairs = pairs.with_columns(normalise_name(pl.col("name")).alias("normalised"))
    codes = (
        pairs.group_by("uscc").agg(pl.col("normalised").n_unique().alias("names")).filter(pl.col("names") > 1)
    )
    return (
        pairs.join(codes, on="uscc", how="semi")
        .group_by("uscc", "name", "seen_in")
        .agg(pl.len().cast(pl.Int64).alias("occurrences"))
        .sort(["uscc", "name", "seen_in"])
    )


def one_name_many_codes(entities: pl.LazyFrame) -> pl.LazyFrame:
    """Registered names (normalised) held by more than one code, one row per (name, code)."""
    named = entities.select("uscc", "name", "status").with_columns(
        normalise_name(pl.col("name")).alias("normalised")
    )
    names = (
        named.group_by("normalised").agg(pl.col("uscc").n_unique().alias("codes")).filter(pl.col("codes") > 1)
    )
    return (
        named.join(names, on="normalised", how="semi")
        .select("normalised", "name", "uscc", "status")
        .sort(["normalised", "uscc"])
    )


def _rate(count: int, entities: int) -> float | None:
    return None if entities == 0 else round(count / entities * 10_000, 4)


def report(
    *,
    entities: pl.LazyFrame,
    entity_versions: pl.LazyFrame,
    penalties: pl.LazyFrame,
    quarantine: pl.LazyFrame,
    allow: Iterable[str] = (),
) -> GovernanceReport:
    """The 重错码治理 report from the lake's frames (see the module docstring)."""
    # One collect: the entities (scanned by three of the four queries) are read once.
    counted, invalid, many_names, many_codes = pl.collect_all(
        [
            entities.select(pl.len()),
            invalid_codes(quarantine, allow=allow),
            one_code_many_names(code_name_pairs(entity_versions, penalties)),
            one_name_many_codes(entities),
        ]
    )
    registered = counted.item()
    findings = []
    for status in (uscc.Status.FORMAT.value, uscc.Status.CHECKSUM.value):
        rows = invalid.filter(pl.col("status") == status)
        count = rows["value"].n_unique()
        findings.append(Finding(f"invalid_{status}", count, _rate(count, registered), rows))
    count = many_names["uscc"].n_unique()
    findings.append(Finding("one_code_many_names", count, _rate(count, registered), many_names))
    count = many_codes["normalised"].n_unique()
    findings.append(Finding("one_name_many_codes", count, _rate(count, registered), many_codes))
    return GovernanceReport(entities=registered, findings=tuple(findings))


def from_lake(lake_dir: Path, *, allow: Iterable[str] = ()) -> GovernanceReport:
    """The report for the lake at ``lake_dir``."""
    return report(
        entities=lake.scan(lake_dir, "entities"),
        entity_versions=lake.scan_versions(lake_dir, "entities"),
        penalties=lake.scan(lake_dir, "penalties"),
        quarantine=lake.scan_quarantine(lake_dir),
        allow=allow,
    )

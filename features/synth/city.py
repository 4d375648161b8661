"""A city config and seed in, a folder of source files (plus ``truth/``) and a generation report out."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from features.catalog import TABLES
from features.synth import dirt as dirt_mod
from features.synth.decisions import build_decisions
from features.synth.events import build_records
from features.synth.inspections import draw_inspections
from features.synth.people import build_people
from features.synth.population import (
    Population,
    Timeline,
    addresses_and_phones,
    build_population,
    day,
    entities_frame,
)
from features.synth.shocks import draw_shocks, shock_records, shocks_truth
from features.synth.writer import FORMATS, write_json, write_table, write_truth

# Independent random streams, one per part, in a fixed order: changing one part never shifts another.
PARTS = (
    "population",
    "addresses",
    "people",
    "inspections",
    "licences",
    "penalties",
    "lists",
    "repairs",
    "commitments",
    "self_reports",
    "evaluations",
    "interviews",
    "objections",
    "dirt",
    "decisions",  # added later: last, so that every older part keeps its stream
    "shocks",  # added later still (issue 15): drawn only when shock_share > 0
)
STEPS = ("population", "people", "inspections", "records", "dirt", "write")
TRUTH_DIR = "truth"
ROSTERS_DIR = (
    "rosters"  # inputs that are not catalog tables (the inspector roster); ingest does not read them
)
MARKER = "report.json"  # truth/report.json marks a folder this generator wrote (so --force may replace it)


@dataclass(frozen=True, slots=True)
class CityConfig:
    """Size, time span, seed and the policy knobs of the synthetic city (defaults: the demo city)."""

    entities: int = 20_000
    years: int = 5
    seed: int = 0
    end_date: date = date(2026, 6, 30)
    dirt_rate: float = 0.005
    # Tier → yearly sampling ratio of the double-random draws (A, B, C, D), and the tiers' shares.
    tier_ratios: tuple[float, float, float, float] = (0.03, 0.10, 0.30, 0.70)
    tier_shares: tuple[float, float, float, float] = (0.30, 0.40, 0.20, 0.10)
    control_rate: float = 0.02  # uniform random slice of every draw
    signal_noise: float = 1.0  # sd of the public signal the tiers were set from (logit scale)
    entities_per_inspector: int = 300
    # Shocks (issue 15): a share of the entities open on a uniform day of the last `shock_months` months of
    # the window get a latent-logit jump of `shock_delta` from that day; `shock_visibility` of them leave an
    # incident record 3-25 days later (features/synth/shocks.py). 0.0: no shocks, the city as before.
    shock_share: float = 0.0
    shock_months: int = 24
    shock_delta: float = 3.0
    shock_visibility: float = 0.9

    def check(self, *, today: date) -> None:
        """Raise a ValueError naming the parameter and the allowed values."""
        if self.entities < 100:
            raise ValueError(f"entities must be at least 100, got {self.entities}")
        if not 1 <= self.years <= 30:
            raise ValueError(f"years must be between 1 and 30, got {self.years}")
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if self.end_date > today:
            raise ValueError(f"end_date must not be after today ({today}), got {self.end_date}")
        if not 0.0 <= self.dirt_rate <= 0.2:
            raise ValueError(f"dirt_rate must be in [0, 0.2], got {self.dirt_rate}")
        if len(self.tier_ratios) != 4 or not all(0.0 < r <= 1.0 for r in self.tier_ratios):
            raise ValueError(f"tier_ratios must be four ratios in (0, 1], got {self.tier_ratios}")
        if (
            len(self.tier_shares) != 4
            or abs(sum(self.tier_shares) - 1.0) > 1e-9
            or min(self.tier_shares) <= 0
        ):
            raise ValueError(f"tier_shares must be four positive shares summing to 1, got {self.tier_shares}")
        if not 0.0 < self.control_rate < 1.0:
            raise ValueError(f"control_rate must be in (0, 1), got {self.control_rate}")
        if self.signal_noise < 0:
            raise ValueError(f"signal_noise must be non-negative, got {self.signal_noise}")
        if self.entities_per_inspector < 1:
            raise ValueError(f"entities_per_inspector must be positive, got {self.entities_per_inspector}")
        if not 0.0 <= self.shock_share <= 0.5:
            raise ValueError(f"shock_share must be in [0, 0.5], got {self.shock_share}")
        if not 1 <= self.shock_months <= 12 * self.years:
            raise ValueError(f"shock_months must be between 1 and 12 × years, got {self.shock_months}")
        if not 0.0 < self.shock_delta <= 10.0:
            raise ValueError(f"shock_delta must be in (0, 10] (logit scale), got {self.shock_delta}")
        if not 0.0 <= self.shock_visibility <= 1.0:
            raise ValueError(f"shock_visibility must be in [0, 1], got {self.shock_visibility}")

    @property
    def shock_start(self) -> date:
        """The first day shocks may fall on: the first of the month `shock_months - 1` months before the
        end date's month (so the shocks fill `shock_months` calendar months, the last one up to end_date)."""
        months = self.end_date.year * 12 + self.end_date.month - 1 - (self.shock_months - 1)
        return date(months // 12, months % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class FileReport:
    table: str
    file: str
    rows: int
    dirt_rows: int


@dataclass(frozen=True, slots=True)
class GenerationReport:
    """What was written: files and row counts, injected dirt, and the oracle AUC of the truth."""

    out: Path
    config: CityConfig
    files: tuple[FileReport, ...]
    inspections: int
    violation_rate: float
    oracle_auc: float
    seconds: float = field(default=0.0, compare=False)

    @property
    def records(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def dirt_rows(self) -> int:
        return sum(f.dirt_rows for f in self.files)

    def to_dict(self, *, timing: bool = True) -> dict[str, object]:
        out: dict[str, object] = {
            "out": str(self.out),
            "config": {
                k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self.config).items()
            },
            "files": [asdict(f) for f in self.files],
            "records": self.records,
            "dirt_rows": self.dirt_rows,
            "inspections": self.inspections,
            "violation_rate": round(self.violation_rate, 6),
            "oracle_auc": round(self.oracle_auc, 6),
        }
        if timing:
            out["seconds"] = round(self.seconds, 2)
        return out


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann–Whitney) formula, ties counted half."""
    order = np.argsort(score, kind="stable")
    s = score[order]
    ranks = np.empty(len(s), dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _prepare_out(out: Path, *, force: bool) -> Path:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"out folder {out} is not empty; choose another or pass force=True")
        if not (out / TRUTH_DIR / MARKER).exists():
            raise FileExistsError(
                f"out folder {out} was not written by the generator; refusing to replace it"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    (partial / TRUTH_DIR).mkdir(parents=True)
    return partial


def generate(
    config: CityConfig,
    out: Path,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    today: date | None = None,
) -> GenerationReport:
    """Generate the city into ``out`` (source files at top level, truth in ``out/truth/``).

    Files are written to a sibling ``.partial`` folder and moved into place at the end, so a failed run
    never leaves a half-written city.
    """
    config.check(today=today or date.today())
    started = time.perf_counter()
    say = progress or (lambda _step: None)
    streams = dict(zip(PARTS, np.random.SeedSequence(config.seed).spawn(len(PARTS)), strict=True))
    rngs = {name: np.random.default_rng(seq) for name, seq in streams.items()}
    tl = Timeline.ending(config.end_date, config.years)

    say("population")
    pop = build_population(rngs["population"], n=config.entities, timeline=tl)
    address, phone = addresses_and_phones(rngs["addresses"], pop)
    say("people")
    people = build_people(rngs["people"], pop, tl)
    say("inspections")
    insp = draw_inspections(
        rngs["inspections"],
        pop,
        tl,
        tier_shares=config.tier_shares,
        tier_ratios=config.tier_ratios,
        control_rate=config.control_rate,
        signal_noise=config.signal_noise,
        entities_per_inspector=config.entities_per_inspector,
    )
    say("records")
    rec = build_records(rngs, pop, tl, insp, people.legal_rep_name)
    frames: dict[str, pl.DataFrame] = {
        "entities": entities_frame(pop, address, phone),
        "persons": people.persons,
        "relations": people.relations,
        "licences": rec.licences,
        "penalties": rec.penalties,
        "commitments": rec.commitments,
        "self_reports": rec.self_reports,
        "evaluations": rec.evaluations,
        "list_entries": rec.list_entries,
        "interviews": rec.interviews,
        "repairs": rec.repairs,
        "objections": rec.objections,
        "inspections": insp.table,
        "decisions": build_decisions(rngs["decisions"], pop, tl),
    }
    shocks = None
    added: dict[str, pl.DataFrame] = {}
    if config.shock_share > 0:
        shocks = draw_shocks(
            rngs["shocks"],
            pop,
            tl,
            share=config.shock_share,
            first_day=day(config.shock_start),
            delta=config.shock_delta,
            visibility=config.shock_visibility,
        )
        extra = shock_records(
            rngs["shocks"],
            shocks,
            pop,
            tl,
            people.legal_rep_name,
            penalties=frames["penalties"],
            list_entries=frames["list_entries"],
        )
        added = {"penalties": extra.penalties, "list_entries": extra.list_entries}

    say("dirt")
    dirt_seeds = streams["dirt"].spawn(len(TABLES))
    taken = set(pop.uscc.to_list())  # fresh codes made for dirt must not hit a real entity
    manifests = []
    for t, seq in zip(TABLES, dirt_seeds, strict=True):  # catalog order: fixed
        fmt = FORMATS[t.name]
        frames[t.name], man = dirt_mod.inject(
            np.random.default_rng(seq),
            t.name,
            frames[t.name],
            rate=config.dirt_rate,
            text_dates=fmt.text_dates,
            taken=taken,
        )
        manifests.append(man.with_columns(file=pl.lit(fmt.file)))
    # The shocks' rows get dirt of their own stream and are appended after the dirty unshocked rows, so
    # the unshocked rows and their dirt are those of the city without shocks, byte for byte.
    shock_dirt = dict(zip(added, streams["shocks"].spawn(len(added)), strict=True))
    for i, t in enumerate(TABLES):
        if t.name not in added:
            continue
        fmt = FORMATS[t.name]
        dirty, man = dirt_mod.inject(
            np.random.default_rng(shock_dirt[t.name]),
            t.name,
            added[t.name],
            rate=config.dirt_rate,
            text_dates=fmt.text_dates,
            taken=taken,
        )
        offset = frames[t.name].height
        frames[t.name] = _append(frames[t.name], dirty)
        manifests[i] = pl.concat(
            [manifests[i], man.with_columns(pl.col("row") + offset, file=pl.lit(fmt.file))]
        )

    say("write")
    partial = _prepare_out(out, force=force)
    try:
        files = []
        for t, man in zip(TABLES, manifests, strict=True):
            fmt = FORMATS[t.name]
            write_table(frames[t.name], partial / fmt.file, fmt)
            files.append(FileReport(t.name, fmt.file, frames[t.name].height, man.height))
        rosters = partial / ROSTERS_DIR
        rosters.mkdir()
        insp.roster.write_csv(rosters / "inspectors.csv")
        truth = partial / TRUTH_DIR
        write_truth(_truth_entities(pop), truth / "entities.parquet")
        write_truth(_truth_entity_years(pop, tl), truth / "entity_years.parquet")
        write_truth(insp.truth, truth / "inspections.parquet")
        write_truth(pl.concat(manifests), truth / "dirt.parquet")
        if shocks is not None:
            write_truth(shocks_truth(shocks, pop), truth / "shocks.parquet")
        outcome = insp.table["outcome"].to_numpy().astype(str)
        positive = (outcome == "violation") | (outcome == "serious_violation")
        report = GenerationReport(
            out=out,
            config=config,
            files=tuple(files),
            inspections=insp.table.height,
            violation_rate=float(positive.mean()) if len(positive) else 0.0,
            oracle_auc=auc(insp.truth["violation_probability"].to_numpy(), positive),
        )
        payload = report.to_dict(timing=False)
        if config.shock_share == 0:  # a city without shocks reports as it did before shocks existed
            cfg = payload["config"]
            assert isinstance(cfg, dict)
            for key in ("shock_share", "shock_months", "shock_delta", "shock_visibility"):
                del cfg[key]
        del payload["out"]  # the same city written elsewhere is still the same city, byte for byte
        write_json(payload, truth / MARKER)
        if out.exists():
            shutil.rmtree(out)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return replace(report, seconds=time.perf_counter() - started)


def _append(base: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    """``base`` then ``extra``; a column one side's dirt made text (an impossible date) is text in both."""
    differ = [c for c, dt in base.schema.items() if extra.schema[c] != dt]

    def text(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns([pl.col(c).cast(pl.String) for c in differ])

    return pl.concat([text(base), text(extra).select(base.columns)])


def _truth_entities(pop: Population) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "uscc": pop.uscc,
            "group_id": pop.group,
            "base_logit": pop.base_logit,
            "group_effect": pop.group_effect,
            "base_risk": 1.0 / (1.0 + np.exp(-pop.base_logit)),
        }
    )


def _truth_entity_years(pop: Population, tl: Timeline) -> pl.DataFrame:
    n, years = pop.logit.shape
    return pl.DataFrame(
        {
            "uscc": pop.uscc.gather(np.repeat(np.arange(n), years)),
            "period_start": pl.Series(np.tile(tl.bounds[:-1], n)).cast(pl.Date),
            "period_end": pl.Series(np.tile(tl.bounds[1:] - 1, n)).cast(pl.Date),
            "latent_logit": pop.logit.ravel().astype(np.float64),
            "violation_risk": 1.0 / (1.0 + np.exp(-pop.logit.ravel().astype(np.float64))),
        }
    )

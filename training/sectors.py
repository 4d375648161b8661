"""Sector models (issue 15): per key sector of ``training/sectors.toml``, a model fitted on the sector's rows
with the general model's pipeline, compared with the general model on the sector's test rows through the
champion gate, kept only where it wins.

``fit_sector_models`` takes the labelled frame and the general model's :class:`~training.run.TrainingResult`
and returns the model to register — the general model itself when no sector model won, else a
:class:`~models.routed.RoutedRiskModel` that sends the won sectors' rows to their models — with one
:class:`SectorComparison` per key sector (tried or not, and why). ``with_sector_models`` puts that model into
the training result, with the test rows re-scored and re-evaluated by it (the run's metrics are then those
of the model that is registered). ``card_lines`` is the model card's section.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.explain import FeatureInfo
from models.risk_model import RiskModel
from models.routed import RoutedRiskModel, SectorRoute
from training.evaluate import evaluate
from training.registry import DEFAULT_TOLERANCES, gate_checks
from training.run import TrainingResult, fit_risk_model
from training.split import windows as split_windows

SECTOR_POLICY_FILE = Path(__file__).with_name("sectors.toml")
# The feature that carries an entity's GB/T 4754 section (1-based position of the letter in A–T).
SECTION_COLUMN = "industry_section_code"
SECTION_LETTERS = tuple("ABCDEFGHIJKLMNOPQRST")  # features.indicators.INDUSTRY_SECTIONS (checked in tests)
SHOWN = ("test_roc_auc", "test_pr_auc", "test_brier", "test_ece")
Progress = Callable[[str], None]

_TOP_KEYS = {
    "confidence",
    "metric",
    "margin",
    "min_train_rows",
    "min_test_rows",
    "min_test_positives",
    "sectors",
}
_SECTOR_KEYS = {"name", "zh", "en", "sections"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Sector:
    """A key sector: its name (code), Chinese and English names, and its GB/T 4754 section letters."""

    name: str
    zh: str
    en: str
    sections: tuple[str, ...]

    def codes(self) -> tuple[int, ...]:
        """The ``industry_section_code`` values of the sector's sections."""
        return tuple(SECTION_LETTERS.index(s) + 1 for s in self.sections)


@dataclass(frozen=True)
class SectorPolicy:
    """The sector policy file (see ``training/sectors.toml``)."""

    sectors: tuple[Sector, ...]
    metric: str = "test_roc_auc"
    margin: float = 0.01
    min_train_rows: int = 500
    min_test_rows: int = 150
    min_test_positives: int = 15
    confidence: str = "U"


def load_sector_policy(path: Path | None = None) -> SectorPolicy:
    """Read the sector policy file (``training/sectors.toml`` by default); a ValueError names the key at
    fault (unknown, missing or out of range)."""
    source = path or SECTOR_POLICY_FILE
    with source.open("rb") as fh:
        data = tomllib.load(fh)
    return parse_sector_policy(data, source=str(source))


def parse_sector_policy(data: Mapping[str, Any], *, source: str = "sector policy") -> SectorPolicy:
    """The :class:`SectorPolicy` of a parsed policy file (see :func:`load_sector_policy`)."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ValueError(f"{source}: unknown key {unknown[0]!r} (allowed: {sorted(_TOP_KEYS)})")
    missing = sorted(_TOP_KEYS - set(data))
    if missing:
        raise ValueError(f"{source}: missing key {missing[0]!r}")
    metric = data["metric"]
    if metric not in DEFAULT_TOLERANCES:
        raise ValueError(
            f"{source}: key 'metric' is {metric!r}, expected one of {sorted(DEFAULT_TOLERANCES)}"
        )
    margin = data["margin"]
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 1:
        raise ValueError(f"{source}: key 'margin' is {margin!r}, expected a number in [0, 1)")
    counts = {}
    for key in ("min_train_rows", "min_test_rows", "min_test_positives"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{source}: key {key!r} is {value!r}, expected an integer >= 1")
        counts[key] = value
    raw = data["sectors"]
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{source}: key 'sectors' must be a non-empty list of [[sectors]] tables")
    sectors: list[Sector] = []
    taken: dict[str, str] = {}
    for i, entry in enumerate(raw):
        where = f"{source}: sectors[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a table, got {entry!r}")
        unknown = sorted(set(entry) - _SECTOR_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed: {sorted(_SECTOR_KEYS)})")
        missing = sorted(_SECTOR_KEYS - set(entry))
        if missing:
            raise ValueError(f"{where}: missing key {missing[0]!r}")
        name = entry["name"]
        if not isinstance(name, str) or not _NAME.match(name) or name == "general":
            raise ValueError(f"{where}: key 'name' is {name!r}, expected lower-case letters, digits and _")
        if any(s.name == name for s in sectors):
            raise ValueError(f"{where}: key 'name' {name!r} is used twice")
        sections = entry["sections"]
        if not isinstance(sections, list) or not sections:
            raise ValueError(f"{where} ({name}): key 'sections' must be a non-empty list of letters A–T")
        for letter in sections:
            if letter not in SECTION_LETTERS:
                raise ValueError(
                    f"{where} ({name}): key 'sections' holds {letter!r}, not a GB/T 4754 section letter A–T"
                )
            if letter in taken:
                raise ValueError(
                    f"{where} ({name}): key 'sections' holds {letter!r}, already in sector {taken[letter]!r} "
                    "(a row belongs to one sector at most)"
                )
            taken[letter] = name
        sectors.append(Sector(name, str(entry["zh"]), str(entry["en"]), tuple(sections)))
    return SectorPolicy(
        sectors=tuple(sectors),
        metric=metric,
        margin=float(margin),
        confidence=str(data["confidence"]),
        **counts,
    )


@dataclass(frozen=True)
class SectorComparison:
    """One key sector's outcome: its rows, each model's metrics on the sector's test rows, the gate's checks
    and the verdict (``won``: the sector model scores the sector's rows)."""

    name: str
    zh: str
    en: str
    sections: tuple[str, ...]
    train_rows: int
    test_rows: int
    test_positives: int
    tried: bool
    won: bool
    reason: str
    general: dict[str, float]
    sector: dict[str, float]
    checks: tuple[dict[str, Any], ...] = ()
    gate_passed: bool = False

    @property
    def scored_by(self) -> str:
        return f"sector model `{self.name}`" if self.won else "general model"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sections"] = list(self.sections)
        out["checks"] = list(self.checks)
        return out


def _finite(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}


def fit_sector_models(
    frame: pl.DataFrame,
    general: TrainingResult,
    *,
    infos: Sequence[FeatureInfo],
    categorical: Sequence[str] = (),
    population: pl.DataFrame | None = None,
    policy: SectorPolicy | None = None,
    progress: Progress | None = None,
) -> tuple[RiskModel, list[SectorComparison]]:
    """Per key sector: fit, compare on the sector's test rows, keep if it wins (see the module). The general
    model is not changed: the model returned is a copy (or a RoutedRiskModel around one) whose metadata
    holds the comparisons (``sector_models``)."""
    say = progress or (lambda _: None)
    pol = policy or load_sector_policy()
    cfg = general.config
    target = cfg.target
    base = general.model
    names = base.feature_names
    labelled = frame.filter(pl.col(target).is_not_null())
    test_from = general.windows["test"]["from"]
    last: date = labelled["as_of"].max()  # type: ignore[assignment]
    higher = DEFAULT_TOLERANCES[pol.metric][0]
    # The sector models share the general model's fitted cut-offs: a tier means the same probability band
    # in every sector (its expected rate is the sector's own).
    thresholds = base.policy.thresholds_ or base.policy.thresholds
    try:
        sector_config = replace(cfg, tier_mode="thresholds", tier_thresholds=thresholds, sector_models=False)
    except ValueError as exc:  # e.g. a cut-off of 0 from an isotonic map: no valid fixed thresholds
        unusable = f"not tried: the general model's tier cut-offs cannot be fixed for a sector model ({exc})"
        sector_config = None
    comparisons: list[SectorComparison] = []
    routes: list[SectorRoute] = []
    for sector in pol.sectors:

        def outcome(
            reason: str,
            *,
            tried: bool = False,
            won: bool = False,
            g: Mapping[str, float] | None = None,
            s: Mapping[str, float] | None = None,
            checks: Sequence[dict[str, Any]] = (),
            passed: bool = False,
            rows: tuple[int, int, int] = (0, 0, 0),
            sector: Sector = sector,
        ) -> SectorComparison:
            return SectorComparison(
                sector.name,
                sector.zh,
                sector.en,
                sector.sections,
                *rows,
                tried=tried,
                won=won,
                reason=reason,
                general=dict(g or {}),
                sector=dict(s or {}),
                checks=tuple(checks),
                gate_passed=passed,
            )

        if sector_config is None:
            comparisons.append(outcome(unusable))
            continue
        if SECTION_COLUMN not in names or SECTION_COLUMN not in labelled.columns:
            comparisons.append(outcome(f"not tried: the model has no feature {SECTION_COLUMN!r}"))
            continue
        member = pl.col(SECTION_COLUMN).is_in(list(sector.codes())).fill_null(False)
        rows = labelled.filter(member)
        test = general.test.filter(member)
        n_train = rows.filter(pl.col("as_of") < test_from).height
        n_pos = int(test[target].sum()) if test.height else 0
        counts = (n_train, test.height, n_pos)
        short = [
            f"{what} {n} < {least}"
            for what, n, least in (
                ("training rows", n_train, pol.min_train_rows),
                ("test rows", test.height, pol.min_test_rows),
                ("test violations", n_pos, pol.min_test_positives),
            )
            if n < least
        ]
        if short:
            comparisons.append(outcome("not tried: " + ", ".join(short), rows=counts))
            continue
        sector_last: date = rows["as_of"].max()  # type: ignore[assignment]
        same = split_windows(sector_last, valid_months=cfg.valid_months, test_months=cfg.test_months)
        if same != split_windows(last, valid_months=cfg.valid_months, test_months=cfg.test_months):
            comparisons.append(
                outcome("not tried: no rows in the last month, so its time split would differ", rows=counts)
            )
            continue
        say(f"sector {sector.name}: fitting a sector model on {rows.height} rows")
        pop = None
        if population is not None and SECTION_COLUMN in population.columns:
            pop = population.filter(member)
        try:
            fitted = fit_risk_model(
                rows,
                infos=infos,
                categorical=categorical,
                config=sector_config,
                features=names,
                population=pop,
            )
        except ValueError as exc:
            comparisons.append(
                outcome(f"not kept: the sector model could not be fitted ({exc})", rows=counts)
            )
            continue
        # Both models on the very same rows (the general model's test rows of the sector, its weights).
        scored = fitted.model.score(test, reasons=0)
        ev_sector = evaluate(
            test.with_columns(scored["probability"], scored["tier"]), target=target, budget=cfg.budget
        )
        ev_general = evaluate(test, target=target, budget=cfg.budget)
        m_s, m_g = _finite(ev_sector.metrics), _finite(ev_general.metrics)
        checks, gate_reason = gate_checks(m_s, m_g)
        passed = all(c["passed"] for c in checks)
        gain = None
        if pol.metric in m_s and pol.metric in m_g:
            gain = (m_s[pol.metric] - m_g[pol.metric]) if higher else (m_g[pol.metric] - m_s[pol.metric])
        won = passed and gain is not None and gain > 0 and gain >= pol.margin
        if not passed:
            reason = f"not kept: gate failed ({gate_reason.replace('the champion', 'the general model')})"
        elif gain is None:
            reason = f"not kept: {pol.metric} undefined on the sector's test rows"
        elif not won:
            reason = f"not kept: gate passed but {pol.metric} gain {gain:+.4f} < margin {pol.margin}"
        else:
            reason = f"kept: gate passed and {pol.metric} gain {gain:+.4f} ≥ margin {pol.margin}"
        say(f"sector {sector.name}: {reason}")
        comparisons.append(
            outcome(reason, tried=True, won=won, g=m_g, s=m_s, checks=checks, passed=passed, rows=counts)
        )
        if won:
            routes.append(
                SectorRoute(sector.name, sector.zh, sector.en, SECTION_COLUMN, sector.codes(), fitted.model)
            )
    # A copy of the general model that records the comparisons in its metadata (saved with the model).
    record = {
        "policy": {k: v for k, v in asdict(pol).items() if k != "sectors"},
        "sectors": [c.to_dict() for c in comparisons],
    }
    plain = RiskModel(
        base.estimator,
        base.calibrator,
        base.policy,
        base.feature_infos,
        {**base.metadata, "sector_models": record},
    )
    return (RoutedRiskModel(plain, routes) if routes else plain), comparisons


def with_sector_models(
    result: TrainingResult,
    frame: pl.DataFrame,
    *,
    infos: Sequence[FeatureInfo],
    categorical: Sequence[str] = (),
    population: pl.DataFrame | None = None,
    policy: SectorPolicy | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """``result`` with the model :func:`fit_sector_models` chooses and the comparisons (``sectors``); when a
    sector model won, the test rows are re-scored and re-evaluated by the routed model."""
    pol = policy or load_sector_policy()
    model, comparisons = fit_sector_models(
        frame,
        result,
        infos=infos,
        categorical=categorical,
        population=population,
        policy=pol,
        progress=progress,
    )
    if not isinstance(model, RoutedRiskModel):
        return replace(result, model=model, sectors=tuple(comparisons), sector_policy=pol)
    cfg = result.config
    scored = model.score(result.test, reasons=0)
    test = result.test.with_columns(
        scored["raw_score"], scored["probability"], scored["model_tier"], scored["tier"], scored["override"]
    )
    ref = frame.filter(pl.col(cfg.target).is_not_null() & (pl.col("as_of") < result.windows["test"]["from"]))
    evaluation = evaluate(
        test,
        target=cfg.target,
        budget=cfg.budget,
        reference_probability=model.probability(ref.select(model.feature_names)),
    )
    return replace(
        result, model=model, test=test, evaluation=evaluation, sectors=tuple(comparisons), sector_policy=pol
    )


def card_lines(comparisons: Sequence[SectorComparison], policy: SectorPolicy | None) -> list[str]:
    """The model card's section: which model scores which sector, with the comparison numbers."""
    if not comparisons:
        return []
    pol = policy or load_sector_policy()

    def num(m: Mapping[str, float], key: str) -> str:
        return f"{m[key]:.4f}" if key in m else "—"

    won = [c for c in comparisons if c.won]
    lines = [
        "## Sector models",
        f"Key sectors of `training/sectors.toml` (confidence {pol.confidence}). A sector model is fitted on "
        "the sector's rows with the general model's pipeline and compared with the general model on the "
        "sector's test rows (the same rows and weights) through the champion gate; it scores the sector "
        f"only if it passes the gate and beats the general model on `{pol.metric}` by at least {pol.margin}. "
        "Every row outside the won sectors is scored by the general model"
        + (
            "; the metrics above are those of the routed model."
            if won
            else ". No sector model won: the general model scores every row."
        ),
        "",
        "| sector | 行业 | GB/T 4754 sections | scored by | train rows | test rows | test violations "
        "| ROC-AUC general | ROC-AUC sector | PR-AUC general | PR-AUC sector | Brier general | Brier sector "
        "| ECE general | ECE sector | gate | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        gate = "—" if not c.tried else ("passed" if c.gate_passed else "failed")
        metrics = " | ".join(f"{num(c.general, k)} | {num(c.sector, k)}" for k in SHOWN)
        lines.append(
            f"| {c.en} | {c.zh} | {', '.join(c.sections)} | {c.scored_by} | {c.train_rows} | {c.test_rows} "
            f"| {c.test_positives} | {metrics} | {gate} | {c.reason} |"
        )
    lines.append("")
    return lines

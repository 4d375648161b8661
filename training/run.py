"""One training run: labelled features → RiskModel + evaluation → one MLflow run, registered as a version.

``fit_risk_model`` is the pure part (no MLflow): split by time, weight by inverse selection probability,
fit with early stopping on the validation months, calibrate (on out-of-fold scores of all the months before
the test when the validation months are few, else on the validation months), fit the tier policy (cut-offs
from the policy file ``training/tiers.toml``, shares fitted on the city's entities), evaluate on the test
months. ``log_run`` writes params, metrics, charts, the feature catalog, a model card, the data
digest and the code version into one run and registers the model. The tracking URI and the artifact
location are always passed in explicitly (never configured at import).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models import charts
from models.calibration import ProbabilityCalibrator, out_of_fold_scores
from models.estimator import BoosterTrainer, RiskClassifier
from models.explain import FeatureInfo, directions
from models.risk_model import RiskModel, log_model
from models.tiers import Condition, Override, TierPolicy
from training.evaluate import Evaluation, evaluate
from training.registry import (
    MODEL_NAME,
    TRAINER_TAG,
    Registry,
    fault_point,
    tracking,
    trainer_tag,
    training_lock,
)
from training.split import out_of_time_split, time_folds
from training.weights import WeightReport, inverse_probability_weights

EXPERIMENT = "creditwatch"
Progress = Callable[[str], None]
TIER_POLICY_FILE = Path(__file__).with_name("tiers.toml")


@dataclass(frozen=True)
class TierSettings:
    """The tier policy file: ``mode`` ("shares" or "thresholds"), the shares A–D, the fixed cut-offs and the
    confidence of the shares (domain-rules tag)."""

    mode: str
    shares: tuple[float, float, float, float]
    thresholds: tuple[float, float, float]
    confidence: str


def load_tier_policy(path: Path | None = None) -> TierSettings:
    """Read the tier policy file (``training/tiers.toml`` by default); a ValueError names the key at fault."""
    source = path or TIER_POLICY_FILE
    with source.open("rb") as fh:
        data = tomllib.load(fh)
    try:
        shares = data["shares"]
        cuts = data["thresholds"]
        settings = TierSettings(
            mode=str(data["mode"]),
            shares=(float(shares["A"]), float(shares["B"]), float(shares["C"]), float(shares["D"])),
            thresholds=(float(cuts["a_b"]), float(cuts["b_c"]), float(cuts["c_d"])),
            confidence=str(data["confidence"]),
        )
    except KeyError as exc:
        raise ValueError(f"{source}: missing key {exc.args[0]!r}") from None
    # The same checks as the policy itself (mode, increasing cut-offs, shares summing to 1).
    TierPolicy(mode=settings.mode, thresholds=settings.thresholds, shares=settings.shares)
    return settings


def _default_estimator() -> dict[str, Any]:
    return {
        "n_estimators": 400,
        "learning_rate": 0.05,
        # Small trees: labelled inspections number in the thousands, not millions; on the synthetic city
        # (3,453 inspections) 7 leaves / 20 rows beat 15 / 50 on test AUC (0.751 vs 0.730) and ECE.
        "num_leaves": 7,
        "min_child_samples": 20,
        "reg_lambda": 1.0,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "early_stopping_rounds": 40,
    }


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on besides the data (logged as the run's parameters)."""

    target: str = "violation_found"
    valid_months: int = 3
    test_months: int = 3
    weight_cap_quantile: float = 0.99
    weight_cap_max: float = 100.0
    calibration: str = "auto"
    # Cross-fitted calibration: when the validation months hold at most ``cross_fit_max_valid_rows`` rows,
    # the calibrator is fitted on out-of-fold scores of the training and validation months, cut into
    # ``calibration_folds`` contiguous blocks of calendar months (one extra fit per fold, with the final
    # model's tree count). 0 or 1 folds: the validation months alone, as before.
    calibration_folds: int = 5
    cross_fit_max_valid_rows: int = 10_000
    # None: the tier policy file's value (training/tiers.toml, the one source of truth); a value overrides it.
    tier_mode: str | None = None
    tier_thresholds: tuple[float, float, float] | None = None
    tier_shares: tuple[float, float, float, float] | None = None
    default_tier: str = "B"
    budget: float = 0.1
    random_state: int = 0
    num_threads: int = 2
    estimator: Mapping[str, Any] = field(default_factory=_default_estimator)
    # Sector models of training/sectors.toml (issue 15), tried after the general model by ``train``.
    sector_models: bool = True

    def __post_init__(self) -> None:
        if None in (self.tier_mode, self.tier_thresholds, self.tier_shares):
            file = load_tier_policy()
            for name, value in (
                ("tier_mode", file.mode),
                ("tier_thresholds", file.thresholds),
                ("tier_shares", file.shares),
            ):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, value)
        # Checked here, so a bad --tier-mode fails before any data is read.
        self.tier_policy()

    def tier_policy(self, overrides: Sequence[Override] = ()) -> TierPolicy:
        """The (unfitted) tier policy of this configuration."""
        assert (
            self.tier_mode is not None and self.tier_thresholds is not None and self.tier_shares is not None
        )
        return TierPolicy(
            mode=self.tier_mode,
            thresholds=self.tier_thresholds,
            shares=self.tier_shares,
            default_tier=self.default_tier,
            overrides=tuple(overrides),
        )

    def params(self) -> dict[str, Any]:
        flat = {k: v for k, v in asdict(self).items() if k != "estimator"}
        flat |= {f"estimator.{k}": v for k, v in self.estimator.items()}
        return {k: (json.dumps(v) if isinstance(v, list | tuple) else v) for k, v in flat.items()}


def catalog_feature_infos(catalog: Sequence[Any]) -> tuple[list[FeatureInfo], list[str]]:
    """FeatureInfos of the scored ``features.indicators`` Indicators, and the names to treat as categorical
    (integer-coded with a code list and no expected direction; ordinal codes with a direction stay numeric
    so they can carry their monotone constraint)."""
    # Indicators marked ``scored=False`` (objections, repair applications: exercising a right) stay in the
    # profile but never become model inputs.
    catalog = [i for i in catalog if getattr(i, "scored", True)]
    infos = [
        FeatureInfo(
            i.name,
            i.zh,
            i.en,
            i.dimension,
            i.direction,
            i.template_zh,
            i.template_en,
            structural=getattr(i, "structural", False),
        )
        for i in catalog
    ]
    categorical = [i.name for i in catalog if getattr(i, "codes", ()) and i.direction == 0]
    return infos, categorical


def default_overrides(feature_names: Sequence[str], *, new_entity_days: int = 365) -> tuple[Override, ...]:
    """The policy's rule overrides, each kept only when the features it reads exist (first match wins).

    - an active severe-dishonesty listing (严重失信主体名单) → D (SAMR 2022-6: 失信主体 are high risk);
    - a new entity (registered less than ``new_entity_days`` ago) with no penalties and no inspections in
      its history → the default tier: the model has nothing to go on ("new business types get an
      observation period", domain-rules §3.4), so neither A (never inspected) nor a guess from thin data.
    """
    names = set(feature_names)
    rules = []
    if "severe_dishonesty_active" in names:
        rules.append(
            Override(
                "severe_dishonesty_listed",
                (Condition("severe_dishonesty_active", ">", 0),),
                "D",
                "当前列入严重失信主体名单",
                "currently on the severe dishonesty list",
            )
        )
    history = [c for c in ("penalties_n_1095d", "inspections_n_1095d") if c in names]
    if "age_days" in names:
        rules.append(
            Override(
                "new_entity_no_history",
                (
                    Condition("age_days", "<", float(new_entity_days)),
                    *(Condition(c, "==", 0.0) for c in history),
                ),
                "default",
                f"新设立主体（成立不足{new_entity_days}天）且无处罚和检查记录，按默认等级",
                f"new entity (under {new_entity_days} days) with no penalty or inspection history: "
                "default tier",
            )
        )
    return tuple(rules)


def data_digest(frame: pl.DataFrame) -> str:
    """sha256 of the frame's Arrow IPC bytes (uncompressed: no timestamps, stable for one polars version)."""
    buf = io.BytesIO()
    frame.write_ipc(buf, compression="uncompressed")
    return hashlib.sha256(buf.getvalue()).hexdigest()


def code_version() -> str:
    """``git:<sha>[+dirty]`` of the working tree when it is a checkout, else the package version."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return f"git:{sha}{'+dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        try:
            return f"creditwatch=={metadata.version('creditwatch')}"
        except metadata.PackageNotFoundError:
            return "unknown"


@dataclass
class TrainingResult:
    model: RiskModel
    evaluation: Evaluation
    test: pl.DataFrame  # test rows with weight, raw_score, probability, tier
    windows: dict[str, Any]
    weights: WeightReport
    data_digest: str
    config: TrainConfig
    # The sector models' comparisons (training.sectors.SectorComparison) and their policy, when tried.
    sectors: tuple[Any, ...] = ()
    sector_policy: Any = None


def fit_risk_model(
    frame: pl.DataFrame,
    *,
    infos: Sequence[FeatureInfo],
    categorical: Sequence[str] = (),
    config: TrainConfig = TrainConfig(),
    features: Sequence[str] | None = None,
    population: pl.DataFrame | None = None,
    progress: Progress | None = None,
    trainer: BoosterTrainer | None = None,
) -> TrainingResult:
    """Fit and evaluate on a labelled frame (``as_of``, the target, ``selection_probability``,
    ``in_control_slice`` and the feature columns; optional ``group_*`` columns for per-group metrics).

    ``population``: the feature rows of the entities the tiers are for (the city's entities as of the
    training cut-off, :func:`train_from_sources`); in ``shares`` mode the cut-offs put them into the tiers in
    the configured shares. Without it the labelled training and validation rows (IPW-weighted) stand in —
    inspected entities are riskier than the city, so a city can then lack a tier.

    ``trainer``: the main LightGBM fit runs there (``training.distributed``: a Dask cluster); calibration,
    tiers and evaluation are the same code either way."""
    say = progress or (lambda _: None)
    names = list(features) if features is not None else [i.name for i in infos]
    missing = [c for c in (*names, "as_of", config.target, "selection_probability") if c not in frame.columns]
    if missing:
        raise ValueError(f"training frame lacks the columns {missing}")
    frame = frame.filter(pl.col(config.target).is_not_null())
    split = out_of_time_split(
        frame.lazy(), valid_months=config.valid_months, test_months=config.test_months
    ).collect()
    weights, report = inverse_probability_weights(
        split["selection_probability"].to_numpy(),
        cap_quantile=config.weight_cap_quantile,
        cap_max=config.weight_cap_max,
    )
    split = split.with_columns(pl.Series("weight", weights))
    parts = {s: split.filter(pl.col("split") == s) for s in ("train", "valid", "test")}
    windows = {
        s: {
            "from": p["as_of"].min(),
            "to": p["as_of"].max(),
            "rows": p.height,
            "positives": int(p[config.target].sum()),
        }
        for s, p in parts.items()
    }
    infos_used = [i for i in infos if i.name in set(names)]
    mono = {k: v for k, v in directions(infos_used).items() if v and k not in set(categorical)}
    est = RiskClassifier(
        **dict(config.estimator),
        monotone_constraints=mono or None,
        categorical_features=tuple(c for c in categorical if c in set(names)),
        random_state=config.random_state,
        num_threads=config.num_threads,
    )
    tr, va, te = parts["train"], parts["valid"], parts["test"]
    say(f"fitting LightGBM on {tr.height} rows × {len(names)} features (validation {va.height})")
    est.fit(
        tr.select(names),
        tr[config.target].to_numpy(),
        tr["weight"].to_numpy(),
        eval_set=(va.select(names), va[config.target].to_numpy(), va["weight"].to_numpy()),
        trainer=trainer,
    )
    ref = pl.concat([tr, va])
    cal, calibration = _calibrate(est, va, ref, names, config, say)
    ref_p = cal.predict(est.decision_function(ref.select(names)))
    policy = config.tier_policy(default_overrides(names))
    if population is not None and population.height:
        say(f"fitting the tier cut-offs ({policy.mode}) on the {population.height} entities of the city")
        policy.fit(cal.predict(est.decision_function(population.select(names))))
        tiers_record: dict[str, Any] = {"fitted_on": "population", "rows": population.height}
        if "as_of" in population.columns:
            tiers_record["as_of"] = str(population["as_of"].max())
    else:
        policy.fit(ref_p, ref["weight"].to_numpy())
        tiers_record = {"fitted_on": "labelled", "rows": ref.height}
    tiers_record |= {"mode": policy.mode, "shares": list(policy.shares), "thresholds": policy.thresholds_}
    digest = data_digest(frame)
    meta = {
        "target": config.target,
        "trained_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "windows": {s: {k: str(v) for k, v in w.items()} for s, w in windows.items()},
        "data_digest": digest,
        "code_version": code_version(),
        "best_iteration": est.best_iteration_,
        "calibration": calibration,
        "tiers": tiers_record,
    }
    model = RiskModel(est, cal, policy, infos_used, meta)
    say(f"evaluating on the test months ({te.height} rows)")
    scored = model.score(te, reasons=0)
    test = te.with_columns(
        scored["raw_score"], scored["probability"], scored["model_tier"], scored["tier"], scored["override"]
    )
    evaluation = evaluate(test, target=config.target, budget=config.budget, reference_probability=ref_p)
    return TrainingResult(model, evaluation, test, windows, report, digest, config)


def _calibrate(
    est: RiskClassifier,
    va: pl.DataFrame,
    ref: pl.DataFrame,
    names: Sequence[str],
    config: TrainConfig,
    say: Progress,
) -> tuple[ProbabilityCalibrator, dict[str, Any]]:
    """The calibrator and a record of what it was fitted on (kept in the model's metadata). ``ref`` is the
    training rows followed by the validation rows ``va``.

    Few validation rows (≤ ``cross_fit_max_valid_rows``) make a noisy map (a few hundred rows: the Platt
    slope was off by a third on a 20,000-entity city), so then the map is fitted on out-of-fold scores of
    every row before the test: ``calibration_folds`` contiguous blocks of months, each scored by a clone of
    ``est`` fitted on the other blocks with ``est``'s own tree count (same settings, same score scale).
    """
    target = config.target
    if config.calibration_folds < 0:
        raise ValueError(f"calibration_folds must be >= 0, got {config.calibration_folds!r}")
    cross_fit = config.calibration_folds >= 2 and va.height <= config.cross_fit_max_valid_rows
    if cross_fit:
        say(
            f"calibrating ({config.calibration}) on out-of-fold scores: {config.calibration_folds} "
            f"time folds over {ref.height} rows"
        )
        folds = time_folds(ref["as_of"], config.calibration_folds)
        scores = out_of_fold_scores(
            est,
            ref.select(names),
            ref[target].to_numpy(),
            ref["weight"].to_numpy(),
            folds=folds,
            n_estimators=est.best_iteration_,
            early_stopping_rounds=None,
        )
        rows = ref
    else:
        say(f"calibrating ({config.calibration}) on the validation months ({va.height} rows)")
        scores = est.decision_function(va.select(names))
        rows = va
    cal = ProbabilityCalibrator(config.calibration, random_state=config.random_state).fit(
        scores, rows[target].to_numpy(), rows["weight"].to_numpy()
    )
    record: dict[str, Any] = {
        "fitted_on": "out_of_fold" if cross_fit else "valid",
        "folds": config.calibration_folds if cross_fit else 0,
        "rows": rows.height,
        "method": cal.method_,
    }
    if cross_fit:
        # Scale check: the fold models' scores and the final model's on the validation months should spread
        # alike (same settings, same tree count); a ratio far from 1 means the map does not carry over.
        final = est.decision_function(va.select(names))
        record["score_sd_ratio_valid"] = (
            float(scores[-va.height :].std() / final.std()) if final.std() else None
        )
    return cal, record


def champion_on_window(registry: Registry, result: TrainingResult) -> tuple[str, dict[str, float]] | None:
    """The current champion scored on this run's test rows (the gate compares on the same window)."""
    version = registry.champion()
    if version is None:
        return None
    champ = registry.load()
    missing = [c for c in champ.feature_names if c not in result.test.columns]
    if missing:
        raise ValueError(f"the champion (version {version}) needs features absent from this data: {missing}")
    scored = champ.score(result.test, reasons=0)
    frame = result.test.with_columns(scored["probability"], scored["tier"])
    ev = evaluate(frame, target=result.config.target, budget=result.config.budget)
    return version, ev.finite_metrics()


def model_card(result: TrainingResult, *, version: str | None = None) -> str:
    """The model card (Markdown): intended use, data windows, metrics, tiers, limits."""
    m = result.evaluation.metrics
    w = result.windows

    def fmt(key: str) -> str:
        v = m.get(key)
        return "—" if v is None or not np.isfinite(v) else f"{v:.4f}"

    lines = [
        f"# Model card — {MODEL_NAME}{f' v{version}' if version else ''}",
        "",
        "## Intended use",
        "Ranks market entities by the calibrated probability that a double-random inspection finds a "
        f"violation (`{result.config.target}`), to set tier A–D sampling ratios and to explain each score. "
        "An internal reference for supervisors (SAMR 2022-6: tiers are not published); never a sanction on "
        "its own.",
        "",
        "## Data",
        "| part | from | to | rows | positives |",
        "|---|---|---|---|---|",
        *[f"| {s} | {v['from']} | {v['to']} | {v['rows']} | {v['positives']} |" for s, v in w.items()],
        "",
        f"Data digest `{result.data_digest}`; code `{result.model.metadata.get('code_version')}`.",
        f"Weights: 1/selection probability, capped at {result.weights.cap:.2f} "
        f"({result.weights.n_capped} rows capped), "
        f"effective sample size {result.weights.effective_sample_size:.0f}.",
        "",
        "## Metrics on the out-of-time test window",
        "| metric | all test rows (IPW-weighted) | uniform control slice |",
        "|---|---|---|",
        *[
            f"| {k} | {fmt('test_' + k)} | {fmt('control_' + k)} |"
            for k in (
                "roc_auc",
                "pr_auc",
                "brier",
                "ece",
                "violations_per_100_at_budget",
                "violations_per_100_random",
                "recall_at_budget",
            )
        ],
        f"| psi (train → test) | {fmt('psi_train_test')} | |",
        "",
        f"Calibration: {result.model.calibrator.method_} fitted on "
        f"{_calibration_rows(result.model.metadata)} "
        f"(cross-validated log-loss {result.model.calibrator.cv_log_loss_}).",
        "",
        "## Tiers",
        "| tier | share | expected rate (train) | predicted (test) | observed (test) |",
        "|---|---|---|---|---|",
    ]
    exp = result.model.policy.expected_rate_ or {}
    for row in result.evaluation.tiers.iter_rows(named=True):
        lines.append(
            f"| {row['tier']} | {row['share']:.3f} | {exp.get(row['tier'], float('nan')):.4f} | "
            f"{row['predicted'] if row['predicted'] is None else round(row['predicted'], 4)} | "
            f"{row['observed'] if row['observed'] is None else round(row['observed'], 4)} |"
        )
    lines += [
        "",
        "Overrides: " + "; ".join(f"`{o.name}` → {o.tier}" for o in result.model.policy.overrides) + ".",
        "",
        "## Limits",
        "- Labels exist only for inspected entities; IPW corrects the selection only as far as the recorded "
        "selection probabilities are right, and capping adds a little bias.",
        "- `not_found` inspections are excluded from the labels (nothing was checked).",
        "- Metrics on the control slice are unbiased but noisy when the slice is small.",
        "- A model trained on one city's records should not be applied to another's without retraining.",
        "",
    ]
    if result.sectors:
        from training.sectors import card_lines

        lines += card_lines(result.sectors, result.sector_policy)
    return "\n".join(lines)


def _calibration_rows(meta: Mapping[str, Any]) -> str:
    c = meta.get("calibration") or {}
    if c.get("fitted_on") == "out_of_fold":
        return f"out-of-fold scores of the {c['rows']} training and validation rows ({c['folds']} time folds)"
    return f"the validation months ({c.get('rows', '?')} rows)"


@dataclass
class RunRecord:
    run_id: str
    version: str
    metrics: dict[str, float]
    champion_version: str | None


def log_run(
    result: TrainingResult,
    *,
    tracking_uri: str,
    artifact_location: Path,
    name: str = MODEL_NAME,
    experiment: str = EXPERIMENT,
    run_name: str | None = None,
    progress: Progress | None = None,
) -> RunRecord:
    """Log ``result`` as one MLflow run and register its model; the champion's metrics on the same test
    window go into the run too (``champion_*``), for the gate."""
    import mlflow

    say = progress or (lambda _: None)
    registry = Registry(tracking_uri, name=name)
    same_window = champion_on_window(registry, result)
    with tracking(tracking_uri):
        exp = mlflow.get_experiment_by_name(experiment)
        exp_id = (
            exp.experiment_id
            if exp is not None
            else mlflow.create_experiment(
                experiment, artifact_location=Path(artifact_location).resolve().as_uri()
            )
        )
        # The run is RUNNING only while this process holds the training lock: a killed trainer's run is
        # marked FAILED by the next start (training.registry.mark_dead_runs).
        with (
            training_lock(tracking_uri),
            mlflow.start_run(
                experiment_id=exp_id, run_name=run_name, tags={TRAINER_TAG: trainer_tag()}
            ) as run,
        ):
            fault_point("training.run_started")
            mlflow.log_params(result.config.params())
            metrics = result.evaluation.finite_metrics()
            metrics["best_iteration"] = float(result.model.estimator.best_iteration_)
            tags = {
                "data_digest": result.data_digest,
                "code_version": str(result.model.metadata.get("code_version")),
                "target": result.config.target,
                "gate.champion_version": "",
            }
            if same_window is not None:
                tags["gate.champion_version"] = same_window[0]
                metrics |= {f"champion_{k}": v for k, v in same_window[1].items()}
            mlflow.log_metrics(metrics)
            mlflow.set_tags(tags)
            say("drawing charts")
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                _write_artifacts(result, folder)
                mlflow.log_artifacts(str(folder), artifact_path="report")
            say("logging and registering the model")
            info = log_model(result.model, example=result.test, registered_model_name=name)
            version = str(info.registered_model_version)
    return RunRecord(run.info.run_id, version, metrics, same_window[0] if same_window else None)


def _write_artifacts(result: TrainingResult, folder: Path) -> None:
    ev = result.evaluation
    model = result.model
    labels = {i.name: i.en for i in model.feature_infos}
    sample = result.test.head(2000)
    # Each row's SHAP values from the model that scores it (a sector model's, for a routed model).
    contrib = model.contributions(sample.select(model.feature_names))
    charts.summary(contrib, folder / "charts" / "shap_summary", labels=labels)
    charts.reliability_chart(
        ev.reliability, folder / "charts" / "reliability", title="Reliability (test, weighted)"
    )
    if ev.control_reliability is not None:
        charts.reliability_chart(
            ev.control_reliability,
            folder / "charts" / "reliability_control",
            title="Reliability (control slice)",
        )
    if ev.tiers.height:
        charts.tier_chart(ev.tiers, folder / "charts" / "tiers")
    if sample.height:
        top = int(np.argmax(sample["probability"].to_numpy()))
        row = contrib.row(top, named=True)
        base = row.pop("base_value")
        values = sample.select(model.feature_names).row(top, named=True)
        charts.waterfall(
            row,
            base,
            folder / "charts" / "waterfall_top_risk",
            labels=labels,
            values=values,
            title="Highest-risk test entity",
        )
    # The charts' numbers, so the model's page draws them itself in the reader's language (the PNG/SVG
    # above carry one language's words, and Chinese only where a Chinese font is installed).
    (folder / "chart_data.json").write_text(
        json.dumps(chart_data(result, contrib, sample), ensure_ascii=False, sort_keys=True), encoding="utf-8"
    )
    (folder / "model_card.md").write_text(model_card(result), encoding="utf-8")
    (folder / "feature_catalog.json").write_text(
        json.dumps([i.to_dict() for i in model.feature_infos], ensure_ascii=False, indent=2), encoding="utf-8"
    )
    (folder / "windows.json").write_text(json.dumps(result.windows, default=str, indent=2), encoding="utf-8")
    ev.reliability.write_csv(folder / "reliability.csv")
    if ev.tiers.height:
        ev.tiers.write_csv(folder / "tiers.csv")
    if ev.groups.height:
        ev.groups.write_csv(folder / "groups.csv")


def chart_data(
    result: TrainingResult, contrib: pl.DataFrame, sample: pl.DataFrame, *, top: int = 20, steps: int = 10
) -> dict[str, Any]:
    """The numbers behind the run's charts (``report/chart_data.json``): reliability points (test rows and
    the control slice), tier shares and rates, the ``top`` features by mean |SHAP| and the highest-risk test
    entity's waterfall (its ``steps`` largest contributions, the rest summed) — features with their zh/en
    names, so a page can label them in its own language."""
    ev = result.evaluation
    names = {i.name: {"zh": i.zh, "en": i.en} for i in result.model.feature_infos}

    def points(table: pl.DataFrame | None) -> list[dict[str, float]] | None:
        if table is None:
            return None
        kept = table.filter(pl.col("weight") > 0).select("predicted", "observed")
        return [r for r in kept.to_dicts() if r["predicted"] is not None and r["observed"] is not None]

    feats = [c for c in contrib.columns if c != "base_value"]
    means = {f: float(np.abs(contrib[f].to_numpy()).mean()) for f in feats} if contrib.height else {}
    order = sorted(means, key=lambda f: (-means[f], f))[:top]
    out: dict[str, Any] = {
        "reliability": points(ev.reliability),
        "reliability_control": points(ev.control_reliability),
        "tiers": ev.tiers.select(
            [c for c in ("tier", "share", "predicted", "observed") if c in ev.tiers.columns]
        ).to_dicts()
        if ev.tiers.height
        else None,
        "shap_summary": [{"feature": f, **names.get(f, {}), "value": means[f]} for f in order] or None,
        "waterfall_top_risk": None,
    }
    if sample.height:
        row = contrib.row(int(np.argmax(sample["probability"].to_numpy())), named=True)
        base = float(row.pop("base_value"))
        ranked = sorted(row.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
        shown = [{"feature": f, **names.get(f, {}), "value": float(v)} for f, v in ranked[:steps]]
        rest = ranked[steps:]
        out["waterfall_top_risk"] = {
            "base": base,
            "steps": shown,
            "others": {"n": len(rest), "value": float(sum(v for _, v in rest))} if rest else None,
            "raw": base + float(sum(row.values())),
        }
    return out


def train(
    frame: pl.DataFrame,
    *,
    infos: Sequence[FeatureInfo],
    categorical: Sequence[str] = (),
    config: TrainConfig = TrainConfig(),
    tracking_uri: str,
    artifact_location: Path,
    name: str = MODEL_NAME,
    population: pl.DataFrame | None = None,
    progress: Progress | None = None,
    trainer: BoosterTrainer | None = None,
) -> tuple[TrainingResult, RunRecord]:
    """Fit, evaluate, log and register a challenger (promotion is a separate, gated step)."""
    result = fit_risk_model(
        frame,
        infos=infos,
        categorical=categorical,
        config=config,
        population=population,
        progress=progress,
        trainer=trainer,
    )
    if config.sector_models:
        from training.sectors import with_sector_models  # it builds on this module

        result = with_sector_models(
            result, frame, infos=infos, categorical=categorical, population=population, progress=progress
        )
    record = log_run(
        result, tracking_uri=tracking_uri, artifact_location=artifact_location, name=name, progress=progress
    )
    return result, record


def train_from_sources(
    sources: Mapping[str, pl.LazyFrame],
    *,
    tracking_uri: str,
    artifact_location: Path,
    config: TrainConfig = TrainConfig(),
    feature_config: Any = None,
    until: Any = None,
    progress: Progress | None = None,
    trainer: BoosterTrainer | None = None,
) -> tuple[TrainingResult, RunRecord]:
    """Labels and point-in-time features from the record lake's sources, and the city's entities as of the
    training cut-off (the tiers' population: :func:`population_features`), then ``train``."""
    from training.labels import labelled_features

    fc = _feature_config(feature_config)
    say = progress or (lambda _: None)
    say("building labelled features (as of each inspection day)")
    frame = labelled_features(sources, config=fc, until=until, progress=progress)
    infos, categorical = catalog_feature_infos(fc.catalog)
    population = population_features(sources, frame, until=until, feature_config=fc, progress=progress)
    return train(
        frame,
        infos=infos,
        categorical=categorical,
        config=config,
        tracking_uri=tracking_uri,
        artifact_location=artifact_location,
        population=population,
        progress=progress,
        trainer=trainer,
    )


def _feature_config(feature_config: Any) -> Any:
    from features.build import FeatureConfig

    return feature_config or FeatureConfig()


def training_cutoff(frame: pl.DataFrame, until: date | None = None) -> date:
    """The training cut-off: ``until`` when given (labels use inspections strictly before it), else the day
    after the last labelled inspection."""
    if until is not None:
        return until
    if frame.height == 0:
        raise ValueError("no labelled inspections: the training cut-off is undefined")
    last: date = frame["as_of"].max()  # type: ignore[assignment]
    return last + timedelta(days=1)


def population_features(
    sources: Mapping[str, pl.LazyFrame],
    frame: pl.DataFrame,
    *,
    until: date | None = None,
    feature_config: Any = None,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """Features of every entity in business at the training cut-off (:func:`training_cutoff`): the
    population the tier cut-offs are fitted on."""
    from features.build import build_features

    day = training_cutoff(frame, until)
    (progress or (lambda _: None))(f"building the city's features as of {day.isoformat()} (tier cut-offs)")
    return build_features(sources, as_of=day, config=_feature_config(feature_config)).collect()

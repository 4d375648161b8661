"""Model speed: training on 1M labelled rows × 80 features, scoring 1M, one explanation, batch SHAP vs shap.

Run: ``.venv/bin/python -m bench.model [--rows 1000000] [--shap-rows 100000] [--no-write]``. The data are
random but shaped like the feature table (zero-inflated counts, a few continuous columns, integer codes);
the outcome follows a known logistic model. Results go to docs/benchmarks.md under "Model".
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.report import write_section
from models.calibration import ProbabilityCalibrator
from models.estimator import RiskClassifier
from models.explain import FeatureInfo
from models.risk_model import RiskModel
from models.tiers import TierPolicy

HEADING = "## Model"


def feature_table(n: int, *, seed: int = 0, counts: int = 70) -> tuple[pl.DataFrame, np.ndarray]:
    """``counts`` zero-inflated count columns, age, capital, 8 shares, 2 codes (80 in all), and labels."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    rates = rng.uniform(0.01, 0.6, counts)
    for j, rate in enumerate(rates):
        cols[f"count_{j:02d}"] = rng.poisson(rate, n).astype(np.int64)
    cols["age_days"] = rng.integers(30, 12000, n).astype(np.int64)
    cols["log_capital"] = np.round(rng.normal(13, 2, n), 1)
    for j in range(6):
        cols[f"share_{j}"] = np.round(rng.beta(0.5, 5, n), 2)
    cols["entity_type_code"] = rng.integers(1, 7, n).astype(np.int8)
    cols["industry_section_code"] = rng.integers(1, 21, n).astype(np.int8)
    frame = pl.DataFrame(cols)
    w = rng.normal(0, 0.4, counts)
    logit = -2.5 + sum(w[j] * cols[f"count_{j:02d}"] for j in range(counts))
    logit += -0.0001 * cols["age_days"] + 1.5 * cols["share_0"] + 0.3 * (cols["entity_type_code"] == 2)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return frame, y


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def run(rows: int, shap_rows: int) -> dict:
    # One draw, one true model: the last tenth is the validation set for early stopping and calibration.
    Xall, yall = feature_table(rows + rows // 10, seed=0)
    X, y, Xv, yv = Xall.head(rows), yall[:rows], Xall.tail(rows // 10), yall[rows:]
    features = X.columns
    infos = [FeatureInfo(f, f, f, "law_abiding", 0, f"{f} {{value}}", f"{f} {{value}}") for f in features]
    est = RiskClassifier(
        n_estimators=300,
        learning_rate=0.1,
        num_leaves=15,
        min_child_samples=100,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=1.0,
        early_stopping_rounds=30,
        categorical_features=("entity_type_code", "industry_section_code"),
        num_threads=2,
    )
    _, train_s = timed(est.fit, X, y, eval_set=(Xv, yv))
    cal = ProbabilityCalibrator("platt").fit(est.decision_function(Xv), yv)
    model = RiskModel(est, cal, TierPolicy(mode="shares").fit(cal.predict(est.decision_function(Xv))), infos)
    scored, score_s = timed(model.score, X, reasons=0)

    one = X.head(1)
    model.explain_one(one)  # warm-up (first call builds nothing lazily, but warms caches)
    single = []
    for i in range(200):
        row = X.slice(i * 997 % rows, 1)
        _, s = timed(model.explain_one, row)
        single.append(s)
    raw_single = []
    for i in range(200):
        row = X.slice(i * 991 % rows, 1)
        _, s = timed(est.explain, row, dedup=False)
        raw_single.append(s)

    sample = X.head(shap_rows)
    import shap  # imported here: its 1.3 s import is not part of any timing

    def shap_values(frame: pl.DataFrame) -> np.ndarray:
        explainer = shap.TreeExplainer(est.booster_)
        return np.asarray(explainer(frame.to_numpy().astype(np.float64)).values)

    theirs, shap_s = timed(shap_values, sample)
    ours_sample, ours_sample_s = timed(est.explain_batch, sample)
    rowwise, rowwise_s = timed(est.explain, sample, dedup=True)
    ours_all, ours_all_s = timed(est.explain_batch, X)
    diff = float(np.abs(ours_sample.to_numpy()[:, :-1] - theirs).max())
    diff_rowwise = float(np.abs(rowwise.to_numpy()[:, :-1] - theirs).max())
    additivity = float(np.abs(ours_all.to_numpy().sum(axis=1) - scored["raw_score"].to_numpy()).max())
    return {
        "rows": rows,
        "features": len(features),
        "trees": est.best_iteration_,
        "train_s": train_s,
        "score_s": score_s,
        "explain_one_ms": 1000 * statistics.median(single),
        "explain_one_p95_ms": 1000 * sorted(single)[int(0.95 * len(single))],
        "raw_one_ms": 1000 * statistics.median(raw_single),
        "shap_rows": shap_rows,
        "shap_s": shap_s,
        "ours_sample_s": ours_sample_s,
        "rowwise_s": rowwise_s,
        "ours_all_s": ours_all_s,
        "max_diff": diff,
        "max_diff_rowwise": diff_rowwise,
        "additivity": additivity,
    }


def markdown(r: dict) -> str:
    shap_all = r["shap_s"] * r["rows"] / r["shap_rows"]
    return "\n".join(
        [
            HEADING,
            "",
            f"Command: `.venv/bin/python -m bench.model --rows {r['rows']} --shap-rows {r['shap_rows']}` "
            f"(machine: 2 vCPU, 24 GB, Python 3.11, {platform.machine()}; shared with other jobs, so "
            f"±20–30 %). Random feature-table-shaped data: {r['features']} features (70 zero-inflated "
            "counts, age, capital, 6 shares, 2 integer codes), LightGBM 15 leaves, learning rate 0.1, early "
            "stopping on a 10 % validation set.",
            "",
            "| what | result | target |",
            "|---|---|---|",
            f"| training, {r['rows']:,} rows × {r['features']} features ({r['trees']} trees) | "
            f"{r['train_s']:.1f} s | < 180 s |",
            f"| scoring {r['rows']:,} entities (raw score → calibrated probability → tier) | "
            f"{r['score_s']:.1f} s | < 10 s |",
            "| one entity's explanation (`RiskModel.explain_one`: score, SHAP, dimensions, reasons), "
            f"median / p95 | {r['explain_one_ms']:.1f} / {r['explain_one_p95_ms']:.1f} ms | < 20 ms |",
            f"| one row's SHAP values alone (`RiskClassifier.explain`) | {r['raw_one_ms']:.2f} ms | |",
            f"| `shap.TreeExplainer`, {r['shap_rows']:,} rows | {r['shap_s']:.1f} s | |",
            "| ours, row-wise exact (`explain`, decision-pattern dedup), same rows | "
            f"{r['rowwise_s']:.1f} s | |",
            "| ours, batch (`explain_batch`, per-tree pattern dedup), same rows | "
            f"{r['ours_sample_s']:.1f} s (**{r['shap_s'] / r['ours_sample_s']:.1f}×** faster) | ≥ 3× |",
            f"| ours, batch, all {r['rows']:,} rows | {r['ours_all_s']:.1f} s (shap extrapolated linearly: "
            f"{shap_all:.0f} s, **{shap_all / r['ours_all_s']:.1f}×**) | ≥ 3× |",
            "",
            f"Values: max |ours − shap| = {r['max_diff']:.1e} (batch) and {r['max_diff_rowwise']:.1e} "
            f"(row-wise); rows sum to the raw score within {r['additivity']:.1e}.",
            "",
            "What was tried and what it bought: (1) `shap.TreeExplainer` on a LightGBM booster just calls "
            "`pred_contrib`, so explaining through LightGBM directly is the same speed and the same values; "
            "(2) row-level dedup — explain each distinct *decision pattern* once (values binned by the "
            "model's own split thresholds, unused features ignored) — is bit-identical but buys little on "
            "data with continuous columns, where almost every row is its own pattern; (3) per-tree dedup "
            "(`explain_batch`): each tree only sees ≤ 14 split decisions, so per tree the rows collapse to a "
            "few hundred patterns, LightGBM explains one representative per pattern with that tree alone, "
            "and the values are added to the rows (SHAP adds over trees). Identical up to float summation "
            "order; the speed-up above. Shallow trees (15 leaves) keep both the patterns per tree and "
            "TreeSHAP's depth² cost small.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shap-rows", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--city", type=int, default=0, help="instead: the synthetic-city check with N entities"
    )
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--seed", type=int, default=3, help="the synthetic city's seed")
    parser.add_argument(
        "--test-months", type=int, default=None, help="city check: TrainConfig.test_months (default 3)"
    )
    parser.add_argument(
        "--calibration-folds",
        type=int,
        default=None,
        help="city check: TrainConfig.calibration_folds (default 5; 0 = the validation months alone)",
    )
    args = parser.parse_args()
    if args.city:
        overrides = {
            k: v
            for k, v in (("test_months", args.test_months), ("calibration_folds", args.calibration_folds))
            if v is not None
        }
        print(city_check(args.city, args.years, args.seed, **overrides))
        return
    text = markdown(run(args.rows, args.shap_rows))
    print(text)
    if not args.no_write:
        write_section(text)


def ece_vs_truth(p: Any, truth: Any, w: Any = None, *, bins: int = 10) -> float:
    """Calibration error against the true probability instead of the 0/1 outcomes (only a synthetic city
    knows it): per equal-width bin of ``p``, |mean p − mean true probability|, weighted by the bin's weight.
    Free of the outcomes' sampling noise, which alone puts the binned ECE of the true probability at
    0.03 on 650 test rows."""
    p, truth = np.asarray(p, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    w = np.ones_like(p) if w is None else np.asarray(w, dtype=np.float64)
    b = np.minimum((p * bins).astype(np.int64), bins - 1)
    tw = np.bincount(b, weights=w, minlength=bins)
    gap = np.abs(np.bincount(b, weights=w * (p - truth), minlength=bins))
    return float(gap.sum() / tw.sum())


def city_check(entities: int, years: int, seed: int = 3, **config: Any) -> str:
    """The issue's synthetic-city bar: test AUC vs the oracle (the generator's true probability on the same
    inspections) and calibration error, with the project's own training code (no MLflow). ``config``:
    ``TrainConfig`` fields to change from the defaults."""
    import tempfile

    from bench._city import city_lake
    from features.build import FeatureConfig
    from features.lake import sources
    from training.evaluate import ece as ece_of
    from training.evaluate import roc_auc as auc_of
    from training.labels import labelled_features
    from training.run import TrainConfig, catalog_feature_infos, fit_risk_model

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        city_lake(home, entities=entities, years=years, seed=seed)
        lake = sources(home / "lake")
        built = time.perf_counter()
        frame = labelled_features(lake)
        features_s = time.perf_counter() - built
        truth = pl.read_parquet(home / "city" / "truth" / "inspections.parquet").select(
            "inspection_id", "violation_probability", "risk", "detection"
        )
    infos, categorical = catalog_feature_infos(FeatureConfig().catalog)
    fitting = time.perf_counter()
    result = fit_risk_model(frame, infos=infos, categorical=categorical, config=TrainConfig(**config))
    fit_s = time.perf_counter() - fitting
    test = result.test.join(truth, on="inspection_id", how="left").with_columns(
        # The true probability of the label given the entity was found (not_found rows are not labels).
        true_p=pl.col("risk") * pl.col("detection")
    )
    y, w = test["violation_found"].to_numpy(), test["weight"].to_numpy()
    c = result.model.metadata["calibration"]
    cal_on = (
        f"out-of-fold scores ({c['folds']} time folds, {c['rows']:,} rows, score sd ratio fold/final "
        f"{c.get('score_sd_ratio_valid') or float('nan'):.2f})"
        if c["fitted_on"] == "out_of_fold"
        else f"the validation months ({c['rows']:,} rows)"
    )
    changed = ", ".join(f"{k}={v}" for k, v in config.items())
    trained_with = f"`TrainConfig({changed})`" if config else "the default `TrainConfig`"
    options = "".join(f" --{k.replace('_', '-')} {v}" for k, v in config.items())
    control = test.filter(pl.col("in_control_slice"))
    m = result.evaluation.metrics
    # The bar's oracle is the generator's true risk of the entity at the inspection date: the best any model
    # of the entity can do. The outcome also depends on the two inspectors' strictness, drawn after the
    # selection and unknowable from the entity's records; the oracle that knows it too is shown beside.
    rows = [
        (
            "test rows (IPW)",
            test.height,
            auc_of(y, test["probability"], w),
            auc_of(y, test["risk"], w),
            auc_of(y, test["violation_probability"], w),
            ece_of(y, test["probability"], w),
            ece_of(y, test["true_p"], w),
            ece_vs_truth(test["probability"], test["true_p"], w),
        ),
        (
            "control slice",
            control.height,
            auc_of(control["violation_found"], control["probability"]),
            auc_of(control["violation_found"], control["risk"]),
            auc_of(control["violation_found"], control["violation_probability"]),
            ece_of(control["violation_found"], control["probability"]),
            ece_of(control["violation_found"], control["true_p"]),
            ece_vs_truth(control["probability"], control["true_p"]),
        ),
    ]
    lines = [
        "## Model on the synthetic city",
        "",
        f"Command: `.venv/bin/python -m bench.model --city {entities} --years {years} --seed {seed}"
        f"{options}`: generate, ingest, labels "
        f"and point-in-time features ({frame.height:,} labelled inspections, features {features_s:.0f} s), "
        f"`fit_risk_model` ({fit_s:.1f} s) with {trained_with}; "
        f"total {time.perf_counter() - started:.0f} s. "
        "Bar (issue 5): AUC within 0.03 of the oracle, ECE under 0.02.",
        "",
        "| rows | n | model ROC-AUC | oracle ROC-AUC (true entity risk) | gap "
        "| oracle with inspector strictness | ECE | ECE of the true probability (sampling floor) "
        "| calibration error vs the true probability |",
        "|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {n} | {k:,} | {a:.3f} | {o:.3f} | {o - a:+.3f} | {s:.3f} | {e:.3f} | {f:.3f} | {t:.3f} |"
            for n, k, a, o, s, e, f, t in rows
        ],
        "",
        f"Calibration: {result.model.calibrator.method_} fitted on {cal_on}; "
        f"trees: {result.model.estimator.best_iteration_}; "
        f"recall at the 10 % budget {m.get('test_recall_at_budget', float('nan')):.3f}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

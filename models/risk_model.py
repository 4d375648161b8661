"""RiskModel: estimator + calibrator + tier policy + feature infos + metadata, scored and saved as one object.

Artifact contract: ``save(folder)`` writes ``model.txt`` (LightGBM trees) and ``risk_model.json``
(everything else, plain JSON); ``log_model`` wraps that folder in an MLflow pyfunc model (so the registry,
aliases and ``mlflow.pyfunc.load_model`` work) and ``load_model("models:/creditwatch-risk@champion")``
returns the RiskModel again, offline. MLflow is imported only inside those two functions.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from models.calibration import ProbabilityCalibrator
from models.estimator import RiskClassifier
from models.explain import (
    BASE_VALUE,
    FeatureInfo,
    ScoreReason,
    dimension_sums,
    info_index,
    reasons_zh,
    score_reasons,
)
from models.tiers import TierPolicy

FORMAT_VERSION = 1
ID_COLUMNS = ("uscc", "as_of")
# From this many rows, SHAP takes the batch method (per-tree pattern dedup): the same values to ~1e-15.
LARGE_BATCH = 10_000
REASON_DTYPE = pl.List(
    pl.Struct(
        {
            "feature": pl.String,
            "dimension": pl.String,
            "value": pl.String,
            "contribution": pl.Float64,
            "zh": pl.String,
            "en": pl.String,
        }
    )
)


@dataclass(frozen=True, slots=True)
class EntityScore:
    """One entity's row of the score table: probability, tier (after the policy's overrides), reasons."""

    uscc: str | None
    as_of: date | None
    raw_score: float
    probability: float
    model_tier: str
    tier: str
    override: str | None
    expected_rate: float | None
    reasons: tuple[ScoreReason, ...]

    @property
    def reasons_zh(self) -> str | None:
        return reasons_zh(self.reasons)

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> EntityScore:
        rate = row.get("expected_rate")
        return cls(
            uscc=row.get("uscc"),
            as_of=row.get("as_of"),
            raw_score=float(row["raw_score"]),
            probability=float(row["probability"]),
            model_tier=str(row["model_tier"]),
            tier=str(row["tier"]),
            override=row.get("override"),
            expected_rate=None if rate is None else float(rate),
            reasons=tuple(ScoreReason.of(r) for r in row.get("reasons") or ()),
        )


@dataclass(frozen=True, slots=True)
class Contribution:
    """One feature's SHAP contribution (log-odds) with the entity's value of it."""

    feature: str
    value: Any
    contribution: float


@dataclass(frozen=True, slots=True)
class EntityExplanation:
    """One entity's score explained: base value + contributions (largest first) = raw score; the per-dimension
    sums of the same contributions; the score itself with its top reasons."""

    score: EntityScore
    base_value: float
    contributions: tuple[Contribution, ...]
    dimensions: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class BatchExplanation:
    """Many entities explained: per-feature contributions and per-dimension sums (each row adds up to the raw
    score, ``base_value`` included), and the score table."""

    contributions: pl.DataFrame
    dimensions: pl.DataFrame
    scores: pl.DataFrame


class RiskModel:
    """The fitted risk model: raw score → calibrated probability → tier (with overrides) → reasons."""

    def __init__(
        self,
        estimator: RiskClassifier,
        calibrator: ProbabilityCalibrator,
        policy: TierPolicy,
        feature_infos: Sequence[FeatureInfo],
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.estimator = estimator
        self.calibrator = calibrator
        self.policy = policy
        self.feature_infos = tuple(feature_infos)
        self.metadata = dict(metadata or {})

    @property
    def feature_names(self) -> list[str]:
        return [str(c) for c in self.estimator.feature_names_in_]

    def probability(self, X: pl.DataFrame) -> np.ndarray:
        return self.calibrator.predict(self.estimator.decision_function(X))

    def score(
        self, X: pl.DataFrame, *, reasons: int = 3, contributions: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """The score table, one row per entity (:class:`EntityScore` is one row): ``uscc``/``as_of`` (when
        given), ``raw_score``, ``probability``, ``model_tier``, ``tier``, ``override`` (the rule that set the
        tier, if any) with ``override_zh``/``override_en``, ``expected_rate`` and ``reasons`` (the top
        ``reasons`` risk-raising conduct features as sentences, the override first when one applied, the
        structural attributes last as one baseline line — :func:`models.explain.score_reasons`;
        ``reasons=0`` skips SHAP for speed, and the column)."""
        raw = self.estimator.decision_function(X)
        prob = self.calibrator.predict(raw)
        tiers = self.policy.assign(prob, X)
        rates = self.policy.expected_rate_ or {}
        out = pl.DataFrame({"raw_score": raw, "probability": prob}).hstack(tiers)
        out = out.with_columns(
            pl.col("tier").replace_strict(rates, default=None, return_dtype=pl.Float64).alias("expected_rate")
        )
        ids = [c for c in ID_COLUMNS if c in X.columns]
        if ids:
            out = X.select(ids).hstack(out)
        if reasons > 0:
            if contributions is None:
                contributions = self.contributions(X)
            items = self._reasons(X, tiers, contributions, reasons)
            out = out.with_columns(pl.Series("reasons", items, dtype=REASON_DTYPE))
        return out

    def _reasons(
        self, X: pl.DataFrame, tiers: pl.DataFrame, contrib: pl.DataFrame, k: int
    ) -> list[list[dict[str, Any]]]:
        names = self.feature_names
        values = X.select(names).to_dicts()
        infos = info_index(self.feature_infos)  # once for the batch, not per row
        out = []
        for i, row in enumerate(contrib.iter_rows(named=True)):
            items: list[dict[str, Any]] = []
            if tiers["override"][i] is not None:
                items.append(
                    {
                        "feature": tiers["override"][i],
                        "dimension": "policy",
                        "value": tiers["model_tier"][i],
                        "contribution": None,
                        "zh": tiers["override_zh"][i],
                        "en": tiers["override_en"][i],
                    }
                )
            # Conduct reasons, then the structural attributes as one baseline line (models.explain).
            items += [r.to_dict() for r in score_reasons(values[i], row, infos, k=k)]
            out.append(items)
        return out

    def score_each(self, X: pl.DataFrame, *, reasons: int = 3) -> list[EntityScore]:
        """:meth:`score`, one :class:`EntityScore` per row of `X` (in its order)."""
        return [EntityScore.of(row) for row in self.score(X, reasons=reasons).iter_rows(named=True)]

    def contributions(self, X: pl.DataFrame, *, batch: bool | None = None) -> pl.DataFrame:
        """TreeSHAP contributions of each row (log-odds; a row sums to its raw score): the batch method
        (the same values to ~1e-15, several times faster) when ``batch``, by default for
        :data:`LARGE_BATCH` rows or more — a caller scoring a population in parts passes the population's
        choice, so every part is explained as the whole would be. A routed model (:mod:`models.routed`)
        answers each row with the model of its sector: callers use this, not the estimator."""
        big = X.height >= LARGE_BATCH if batch is None else batch
        return self.estimator.explain_batch(X) if big else self.estimator.explain(X)

    def explain(self, X: pl.DataFrame) -> BatchExplanation:
        """Per-feature contributions, per-dimension sums (log-odds; rows sum to the raw score) and the
        score."""
        contrib = self.contributions(X)
        return BatchExplanation(
            contributions=contrib,
            dimensions=dimension_sums(contrib, self.feature_infos),
            scores=self.score(X, reasons=5, contributions=contrib),
        )

    def explain_one(self, X: pl.DataFrame, *, k: int = 5) -> EntityExplanation:
        """One entity: its score with the top `k` reasons, the base value, every contribution (largest first,
        ties by name) and the dimension sums."""
        if X.height != 1:
            raise ValueError(f"explain_one takes exactly one row, got {X.height}")
        contrib_frame = self.estimator.explain(X, dedup=False)
        scored = self.score(X, reasons=k, contributions=contrib_frame).row(0, named=True)
        contrib = contrib_frame.row(0, named=True)
        dims = dimension_sums(contrib_frame, self.feature_infos).row(0, named=True)
        values = X.select(self.feature_names).row(0, named=True)
        feats = sorted(
            (Contribution(f, values[f], c) for f, c in contrib.items() if f != BASE_VALUE),
            key=lambda c: (-abs(c.contribution), c.feature),
        )
        return EntityExplanation(
            score=EntityScore.of(scored),
            base_value=float(contrib[BASE_VALUE]),
            contributions=tuple(feats),
            dimensions={d: v for d, v in dims.items() if d != BASE_VALUE},
        )

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.txt").write_text(self.estimator.model_string(), encoding="utf-8")
        state = {
            "format_version": FORMAT_VERSION,
            "estimator": self.estimator.state(),
            "calibrator": self.calibrator.state(),
            "policy": self.policy.state(),
            "feature_infos": [i.to_dict() for i in self.feature_infos],
            "metadata": self.metadata,
        }
        (folder / "risk_model.json").write_text(
            json.dumps(state, ensure_ascii=False, indent=2, sort_keys=True, default=str), encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, folder: Path) -> RiskModel:
        """The model saved in ``folder``: a :class:`models.routed.RoutedRiskModel` (sector models, issue 15)
        when the folder holds its routes, else a plain RiskModel."""
        folder = Path(folder)
        general = RiskModel._load_one(folder)
        from models import routed  # imported here: routed builds on this module

        if (folder / routed.ROUTES_FILE).exists():
            return routed.load_routed(folder, general)
        return general

    @staticmethod
    def _load_one(folder: Path) -> RiskModel:
        state = json.loads((folder / "risk_model.json").read_text(encoding="utf-8"))
        if state.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{folder}: risk model format {state.get('format_version')!r}, expected {FORMAT_VERSION}"
            )
        return RiskModel(
            RiskClassifier.from_state(state["estimator"], (folder / "model.txt").read_text(encoding="utf-8")),
            ProbabilityCalibrator.from_state(state["calibrator"]),
            TierPolicy.from_state(state["policy"]),
            [FeatureInfo.from_dict(i) for i in state["feature_infos"]],
            state["metadata"],
        )


def _import_pyfunc() -> Any:
    """``mlflow.pyfunc``; importing it makes MLflow warn about its own built-in loaders' type hints."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*[Tt]ype hint", category=UserWarning)
        import mlflow.pyfunc
    return mlflow.pyfunc


def _pyfunc_class() -> type:
    pyfunc = _import_pyfunc()

    with warnings.catch_warnings():
        # MLflow asks for predict type hints at class creation; it would read them as an input schema.
        warnings.filterwarnings("ignore", message=r".*[Tt]ype hint", category=UserWarning)

        class RiskModelPyfunc(pyfunc.PythonModel):  # type: ignore[name-defined]
            """MLflow wrapper: ``predict`` takes a pandas/polars frame of features and returns the score
            table."""

            def load_context(self, context: Any) -> None:
                self.model = RiskModel.load(Path(context.artifacts["risk_model"]))

            def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
                frame = model_input if isinstance(model_input, pl.DataFrame) else pl.from_pandas(model_input)
                return self.model.score(frame, reasons=0).to_pandas()

    return RiskModelPyfunc


def pyfunc_wrapper() -> Any:
    """A fresh MLflow wrapper of the RiskModel (what ``models/pyfunc_code.py`` hands MLflow at load time)."""
    return _pyfunc_class()()


def signature(model: RiskModel) -> Any:
    """The pyfunc's MLflow signature: the feature columns in (text for textual categorical features, numbers
    otherwise; ``uscc``/``as_of`` optional) and the score table out (without reasons: ``predict`` skips
    them). Given explicitly because MLflow cannot read one from ``predict``'s pandas type hints."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    textual = set(getattr(model.estimator, "categories_", None) or {})
    inputs: list[ColSpec | TensorSpec] = [
        ColSpec("string", "uscc", required=False),
        ColSpec("datetime", "as_of", required=False),
        *[ColSpec("string" if f in textual else "double", f, required=False) for f in model.feature_names],
    ]
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("string", "uscc", required=False),
        ColSpec("datetime", "as_of", required=False),
        ColSpec("double", "raw_score"),
        ColSpec("double", "probability"),
        ColSpec("string", "model_tier"),
        ColSpec("string", "tier"),
        ColSpec("string", "override", required=False),
        ColSpec("string", "override_zh", required=False),
        ColSpec("string", "override_en", required=False),
        ColSpec("double", "expected_rate", required=False),
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def input_example(model: RiskModel, X: pl.DataFrame, *, rows: int = 5) -> pd.DataFrame:
    """The first `rows` of `X` as MLflow's input example: the feature columns, typed as :func:`signature`
    declares them (numbers as doubles, so the example validates against the signature)."""
    textual = set(getattr(model.estimator, "categories_", None) or {})
    return (
        X.head(rows)
        .select([pl.col(f).cast(pl.String if f in textual else pl.Float64) for f in model.feature_names])
        .to_pandas()
    )


def log_model(
    model: RiskModel,
    *,
    example: pl.DataFrame,
    name: str = "model",
    registered_model_name: str | None = None,
) -> Any:
    """Log ``model`` into the active MLflow run as a pyfunc model (optionally registering it), with the
    first rows of `example` (feature rows, e.g. the test split) as its input example.

    The wrapper is logged as code (``models/pyfunc_code.py``), not pickled, with an explicit signature and
    an input example: MLflow warns when any of the three is missing, and training prints no library
    warning."""
    pyfunc = _import_pyfunc()

    with tempfile.TemporaryDirectory() as tmp:
        folder = model.save(Path(tmp) / "risk_model")
        return pyfunc.log_model(
            name=name,
            python_model=str(Path(__file__).with_name("pyfunc_code.py")),
            artifacts={"risk_model": str(folder)},
            signature=signature(model),
            input_example=input_example(model, example),
            registered_model_name=registered_model_name,
            # Explicit requirements: inferring them would import the model in a subprocess (slow) and is
            # never needed here — the serving side runs in this project's own environment.
            pip_requirements=["lightgbm", "polars", "numpy", "scikit-learn"],
        )


def load_model(uri: str) -> RiskModel:
    """The RiskModel behind an MLflow model URI, e.g. ``models:/creditwatch-risk@champion`` (offline)."""
    pyfunc = _import_pyfunc()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*[Tt]ype hint", category=UserWarning)
        loaded = pyfunc.load_model(uri)
    return loaded.unwrap_python_model().model

"""Sector routing (issue 15): one RiskModel that scores each row with its sector's model, or the general one.

A :class:`RoutedRiskModel` *is* a :class:`~models.risk_model.RiskModel` (the general model's estimator,
calibrator, tier policy and feature infos) plus :class:`SectorRoute` s: a row whose routing column (a feature
of the model, e.g. ``industry_section_code``) holds one of a route's values is scored — probability, tier,
reasons, SHAP contributions — by that route's model; every other row by the general model. The output has
the schema of :meth:`RiskModel.score` and the rows in the input's order. The first route that matches a row
wins (the training side never builds overlapping routes).

Saved as the general model's folder (``model.txt``, ``risk_model.json``, as before) plus ``sectors.json``
(the routes) and ``sectors/<name>/`` (each route's model folder); :meth:`RiskModel.load` returns a
RoutedRiskModel when ``sectors.json`` is there, so MLflow logging, the registry and serving load it unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.risk_model import LARGE_BATCH, EntityExplanation, RiskModel

__all__ = ["GENERAL", "ROUTES_FILE", "RoutedRiskModel", "SectorRoute", "load_routed"]

ROUTES_FILE = "sectors.json"
GENERAL = "general"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class SectorRoute:
    """Rows whose ``column`` is one of ``values`` go to ``model`` (the sector ``name``, ``zh``, ``en``)."""

    name: str
    zh: str
    en: str
    column: str
    values: tuple[Any, ...]
    model: RiskModel

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name == GENERAL:
            raise ValueError(
                f"sector route name {self.name!r}: lower-case letters, digits and _ (not {GENERAL!r})"
            )
        if not self.values:
            raise ValueError(f"sector route {self.name!r}: values must list at least one value")
        object.__setattr__(self, "values", tuple(self.values))

    def members(self, X: pl.DataFrame) -> np.ndarray:
        """Boolean mask of the rows of ``X`` in this sector (a null value belongs to no sector). Numeric
        values compare as numbers whatever the column's numeric type (MLflow's pyfunc hands doubles)."""
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.values)
        if numeric:
            test = pl.col(self.column).cast(pl.Float64, strict=False).is_in([float(v) for v in self.values])
        else:
            test = pl.col(self.column).cast(pl.String).is_in([str(v) for v in self.values])
        return X.select(test.fill_null(False)).to_series().to_numpy()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "zh": self.zh,
            "en": self.en,
            "column": self.column,
            "values": list(self.values),
        }


class RoutedRiskModel(RiskModel):
    """The general model with sector routes: :meth:`score`, :meth:`probability`, :meth:`explain` and
    :meth:`explain_one` send each row to the model of its sector (:meth:`scored_by` says which)."""

    def __init__(self, general: RiskModel, routes: Sequence[SectorRoute]) -> None:
        if isinstance(general, RoutedRiskModel):
            raise ValueError("the general model of a RoutedRiskModel must be a plain RiskModel")
        super().__init__(
            general.estimator, general.calibrator, general.policy, general.feature_infos, general.metadata
        )
        self.general = general
        self.routes = tuple(routes)
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError(f"sector routes: duplicate names in {names}")
        features = general.feature_names
        for r in self.routes:
            if r.column not in features:
                raise ValueError(
                    f"sector route {r.name!r}: column {r.column!r} is not a feature of the general model "
                    "(the routing column must reach the model with the features)"
                )
            if r.model.feature_names != features:
                raise ValueError(
                    f"sector route {r.name!r}: its model's features differ from the general model's "
                    "(a routed score table and SHAP frame need one feature list)"
                )

    # -- routing ---------------------------------------------------------------------------------------
    def assignment(self, X: pl.DataFrame) -> np.ndarray:
        """Per row: the index of its route in :attr:`routes`, or -1 for the general model."""
        out = np.full(X.height, -1, dtype=np.int64)
        for k, route in enumerate(self.routes):
            if route.column not in X.columns:
                raise ValueError(
                    f"sector route {route.name!r} needs the column {route.column!r}, absent from X"
                )
            out[(out < 0) & route.members(X)] = k
        return out

    def scored_by(self, X: pl.DataFrame) -> list[str]:
        """Per row: the name of the sector whose model scores it, or ``"general"``."""
        names = [r.name for r in self.routes]
        return [GENERAL if k < 0 else names[k] for k in self.assignment(X).tolist()]

    def _parts(self, X: pl.DataFrame) -> list[tuple[RiskModel, np.ndarray]]:
        idx = self.assignment(X)
        if not idx.size:  # no rows: the general model's (empty) answer
            return [(self.general, idx)]
        models: list[RiskModel] = [self.general, *(r.model for r in self.routes)]
        return [(m, rows) for k, m in enumerate(models) if (rows := np.flatnonzero(idx == k - 1)).size]

    @staticmethod
    def _stitch(parts: Sequence[tuple[np.ndarray, pl.DataFrame]]) -> pl.DataFrame:
        if len(parts) == 1:
            return parts[0][1]
        tagged = [frame.with_columns(pl.Series("__row", rows)) for rows, frame in parts]
        return pl.concat(tagged, how="vertical").sort("__row").drop("__row")

    # -- scoring ---------------------------------------------------------------------------------------
    def probability(self, X: pl.DataFrame) -> np.ndarray:
        out = np.empty(X.height, dtype=np.float64)
        for model, rows in self._parts(X):
            out[rows] = model.probability(X[rows])
        return out

    def score(
        self, X: pl.DataFrame, *, reasons: int = 3, contributions: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """:meth:`RiskModel.score`, each row by the model of its sector. ``contributions``, when given, are
        row-aligned with ``X`` and from the model that scores each row (:meth:`contributions`)."""
        parts = self._parts(X)
        if len(parts) == 1 and parts[0][0] is self.general:
            return self.general.score(X, reasons=reasons, contributions=contributions)
        return self._stitch(
            [
                (
                    rows,
                    model.score(
                        X[rows],
                        reasons=reasons,
                        contributions=None if contributions is None else contributions[rows],
                    ),
                )
                for model, rows in parts
            ]
        )

    def contributions(self, X: pl.DataFrame, *, batch: bool | None = None) -> pl.DataFrame:
        """TreeSHAP contributions of each row by the model that scores it (same columns for all); the method
        chosen for the whole of ``X`` (:meth:`RiskModel.contributions`)."""
        big = X.height >= LARGE_BATCH if batch is None else batch
        parts = self._parts(X)
        return self._stitch([(rows, model.contributions(X[rows], batch=big)) for model, rows in parts])

    def explain_one(self, X: pl.DataFrame, *, k: int = 5) -> EntityExplanation:
        if X.height != 1:
            raise ValueError(f"explain_one takes exactly one row, got {X.height}")
        ((model, _),) = self._parts(X)
        return model.explain_one(X, k=k)

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder = self.general.save(Path(folder))
        for route in self.routes:
            route.model.save(folder / "sectors" / route.name)
        (folder / ROUTES_FILE).write_text(
            json.dumps([r.to_dict() for r in self.routes], ensure_ascii=False, indent=2, sort_keys=True),
            encoding="utf-8",
        )
        return folder


def load_routed(folder: Path, general: RiskModel) -> RoutedRiskModel:
    """The RoutedRiskModel saved in ``folder``, around its already loaded ``general`` model."""
    entries: list[Mapping[str, Any]] = json.loads((Path(folder) / ROUTES_FILE).read_text(encoding="utf-8"))
    routes = [
        SectorRoute(
            name=str(e["name"]),
            zh=str(e["zh"]),
            en=str(e["en"]),
            column=str(e["column"]),
            values=tuple(e["values"]),
            model=RiskModel.load(Path(folder) / "sectors" / str(e["name"])),
        )
        for e in entries
    ]
    return RoutedRiskModel(general, routes)

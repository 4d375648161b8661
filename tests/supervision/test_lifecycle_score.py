"""The score changes after an upheld objection and after an approved repair (a small city, a real model;
slow).

Not "falls": the objection and repair counts are unconstrained features (direction 0), and on the synthetic
city the model gives an upheld objection some risk of its own, so a revoked penalty can leave the score
higher (see docs/lifecycle.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from features.build import FeatureConfig, build_features
from features.ingest import ingest_paths
from features.lake import sources
from features.synth import generate
from features.synth.city import CityConfig
from supervision.lifecycle import objections, repairs
from supervision.lifecycle.records import Lake
from supervision.lifecycle.workflow import Actor
from supervision.platform.db import make_engine, session_scope, upgrade
from training.labels import labelled_features
from training.run import catalog_feature_infos, fit_risk_model

pytestmark = pytest.mark.slow
AS_OF = date(2026, 11, 27)
OFFICER = Actor("officer", role="supervisor")


@dataclass
class City:
    lake: Lake
    model: Any
    engine: sa.Engine


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    root = tmp_path_factory.mktemp("city")
    generate(CityConfig(entities=3000, seed=1), root / "city")
    lake = Lake(root / "lake", "creditwatch-demo-salt")
    ingest_paths(
        sorted(p for p in (root / "city").iterdir() if p.is_file()),
        lake_dir=lake.dir,
        salt=lake.salt,
        today=AS_OF,
    )
    infos, categorical = catalog_feature_infos(FeatureConfig().catalog)
    model = fit_risk_model(labelled_features(sources(lake.dir)), infos=infos, categorical=categorical).model
    engine = make_engine(f"sqlite:///{root / 'db.sqlite'}")
    upgrade(engine)
    yield City(lake, model, engine)
    engine.dispose()


def _probabilities(city: City, usccs: list[str]) -> dict[str, float]:
    feats = build_features(sources(city.lake.dir), as_of=AS_OF).filter(pl.col("uscc").is_in(usccs)).collect()
    scored = city.model.score(feats, reasons=0)
    return dict(zip(scored["uscc"].to_list(), scored["probability"].to_list(), strict=True))


def _penalty_counts(city: City, usccs: list[str]) -> dict[str, int]:
    feats = build_features(sources(city.lake.dir), as_of=AS_OF).filter(pl.col("uscc").is_in(usccs)).collect()
    return dict(zip(feats["uscc"].to_list(), feats["penalties_n_1095d"].to_list(), strict=True))


def _penalised(city: City, skip: set[str]) -> list[tuple[str, list[tuple[str, date]]]]:
    # Entities still registered on AS_OF (features exist for them), with penalties from before May 2026.
    active = build_features(sources(city.lake.dir), as_of=AS_OF).select("uscc")
    pens = (
        sources(city.lake.dir)["penalties"]
        .filter(pl.col("decided_on") < date(2026, 5, 1))
        .join(active, on="uscc")
        .collect()
    )
    by = pens.group_by("uscc").agg(pl.len().alias("n")).sort(["n", "uscc"], descending=[True, False])
    out = []
    for uscc in by["uscc"].to_list():
        if uscc not in skip:
            rows = pens.filter(pl.col("uscc") == uscc).select("decision_no", "decided_on").rows()
            out.append((uscc, rows))
        if len(out) == 3:
            break
    return out


def test_upheld_objections_lower_the_score(city: City) -> None:
    targets = _penalised(city, set())
    usccs = [u for u, _ in targets]
    before = _probabilities(city, usccs)
    with session_scope(city.engine) as s:
        for uscc, penalties in targets:
            for no, _ in penalties:
                oid = objections.file(
                    s,
                    actor=OFFICER,
                    uscc=uscc,
                    record_table="penalties",
                    record_id=no,
                    grounds="依据已撤销",
                    department="市场监管局",
                    filed_on=date(2026, 11, 2),
                ).objection_id
                objections.mark(s, oid, actor=OFFICER, on=date(2026, 11, 2))
                objections.decide(
                    s,
                    oid,
                    actor=OFFICER,
                    on=date(2026, 11, 3),
                    upheld=True,
                    reasons="撤销",
                    resolution="revoked",
                    lake=city.lake,
                )
    after = _probabilities(city, usccs)
    assert any(abs(after[u] - before[u]) > 1e-6 for u in usccs), (before, after)
    assert _penalty_counts(city, usccs) == dict.fromkeys(usccs, 0)


def test_approved_repairs_lower_the_score(city: City) -> None:
    with session_scope(city.engine) as s:
        done = set(s.scalars(sa.select(objections.Objection.uscc)))
    targets = _penalised(city, done)
    usccs = [u for u, _ in targets]
    before = _probabilities(city, usccs)
    src = sources(city.lake.dir)
    approved = 0
    with session_scope(city.engine) as s:
        for uscc, penalties in targets:
            for no, _ in penalties:
                conditions = repairs.check_conditions(
                    src,
                    uscc=uscc,
                    record_table="penalties",
                    record_id=no,
                    on=date(2026, 11, 2),
                    commitment="承诺",
                    obligations_evidence="缴款凭证",
                )
                if not all(c.ok for c in conditions):
                    continue  # e.g. a repeat violation: the system refuses that repair, as it should
                row = repairs.apply(
                    s,
                    src,
                    actor=OFFICER,
                    uscc=uscc,
                    record_table="penalties",
                    record_id=no,
                    department="市场监管局",
                    applied_on=date(2026, 11, 2),
                    commitment="承诺",
                    obligations_evidence="缴款凭证",
                )
                repairs.accept(s, row.repair_id, actor=OFFICER, on=date(2026, 11, 2))
                repairs.approve(s, row.repair_id, src, actor=OFFICER, on=date(2026, 11, 3), lake=city.lake)
                approved += 1
    assert approved > 0
    after = _probabilities(city, usccs)
    assert any(abs(after[u] - before[u]) > 1e-6 for u in usccs), (before, after)

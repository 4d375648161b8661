"""The other administrative decisions of 双公示 (the catalog's ``decisions`` table): 行政强制, 确认, 征收,
给付, 裁决, 补偿 and 奖励, a modest number per entity-year, unrelated to the latent risk.

The generator's own random stream (``decisions`` of :data:`features.synth.city.PARTS`, spawned after every
older part) feeds this module only, so adding it left every other file of a city byte-identical. No feature
reads the table: it is there to be published (supervision.lifecycle.disclosure), not to score.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.catalog import DECISION_KINDS
from features.synth import lexicon
from features.synth.events import _dates, _numbered, _opt_dates, _pick, authority_codes, occurrences
from features.synth.population import Population, Timeline

RATE = 0.04  # decisions per open entity-year, all kinds together
# Per kind (catalog order): its share, the authority (a suffix after the division's name), the titles and
# the legal basis.
KINDS: dict[str, tuple[float, str, tuple[str, ...], str]] = {
    "enforcement": (
        0.2,
        "市场监督管理局",
        ("查封、扣押财物决定", "责令暂停销售决定"),
        "中华人民共和国行政强制法第九条",
    ),
    "confirmation": (
        0.2,
        "行政审批局",
        ("高新技术企业资格确认", "小型微利企业认定"),
        "江苏省行政确认事项目录",
    ),
    "levy": (
        0.15,
        "税务局",
        ("残疾人就业保障金征收决定", "水资源费征收决定"),
        "残疾人就业保障金征收使用管理办法",
    ),
    "benefit": (
        0.15,
        "人力资源和社会保障局",
        ("稳岗补贴发放决定", "一次性吸纳就业补贴发放决定"),
        "失业保险条例第十七条",
    ),
    "adjudication": (
        0.05,
        "人民政府",
        ("林地权属争议裁决", "土地权属争议裁决"),
        "中华人民共和国土地管理法第十四条",
    ),
    "compensation": (
        0.1,
        "人民政府",
        ("国有土地上房屋征收补偿决定", "行政补偿决定"),
        "国有土地上房屋征收与补偿条例",
    ),
    "reward": (0.15, "市场监督管理局", ("守合同重信用企业表彰", "质量奖奖励决定"), "江苏省质量奖管理办法"),
}
assert tuple(KINDS) == DECISION_KINDS


def build_decisions(rng: np.random.Generator, pop: Population, tl: Timeline) -> pl.DataFrame:
    """The ``decisions`` source frame (catalog columns in catalog order), numbered ``XZ…`` by date."""
    occ = occurrences(rng, pop, tl, np.full(pop.logit.shape, RATE))
    m = len(occ.entity)
    shares = np.array([v[0] for v in KINDS.values()])
    kind_idx = rng.choice(len(KINDS), m, p=shares / shares.sum())
    title_idx = rng.integers(0, 2, m)
    div = pop.division[occ.entity]
    names = [d.name for d in lexicon.DIVISIONS]
    # One authority per (kind, division): its name and a fixed code per kind.
    suffixes = [v[1] for v in KINDS.values()]
    authority = [f"{names[d]}{suffixes[k]}" for k, d in zip(kind_idx.tolist(), div.tolist(), strict=True)]
    codes = [authority_codes("11", 20 + k) for k in range(len(KINDS))]
    authority_uscc = [codes[k][d] for k, d in zip(kind_idx.tolist(), div.tolist(), strict=True)]
    titles = [t for v in KINDS.values() for t in v[2]]
    title = _pick(titles, kind_idx * 2 + title_idx)
    bases = [v[3] for v in KINDS.values()]
    # Enforcement follows a violation: a general one; the other kinds carry no severity.
    enforcement = kind_idx == 0
    with_end = rng.random(m) < 0.1
    frame = pl.DataFrame(
        {
            "uscc": pop.uscc[occ.entity],
            "kind": _pick(DECISION_KINDS, kind_idx),
            "title": title,
            "content": pl.select(
                pl.concat_str(
                    [pl.Series(authority, dtype=pl.String), pl.lit("依法作出"), title, pl.lit("。")]
                )
            ).to_series(),
            "basis": _pick(bases, kind_idx),
            "decided_on": _dates(occ.day),
            "authority": pl.Series(authority, dtype=pl.String),
            "authority_uscc": pl.Series(authority_uscc, dtype=pl.String),
            "severity": pl.Series(["general" if e else None for e in enforcement.tolist()], dtype=pl.String),
            "publicity_until": _opt_dates(occ.day + 365, with_end),
        }
    )
    frame = _numbered(frame, column="decision_id", prefix="XZ", by="decided_on")
    return frame.select(
        "decision_id",
        "uscc",
        "kind",
        "title",
        "content",
        "basis",
        "decided_on",
        "authority",
        "authority_uscc",
        "severity",
        "publicity_until",
    )

"""The synthetic city: determinism, valid codes, distributions, consistent relations, dates, truth, draws."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_series_equal
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from features import identity, uscc
from features.catalog import BY_NAME, TABLES
from features.synth import FORMATS, ROSTERS_DIR, CityConfig, GenerationReport, generate
from features.synth.lexicon import DIVISIONS, ID_AREAS

CONFIG = CityConfig(entities=2500, years=5, seed=7)
END = CONFIG.end_date


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    out = tmp_path_factory.mktemp("synth") / "city"
    return out, generate(CONFIG, out)


def load(out: Path, table: str) -> pl.DataFrame:
    """A source file as text columns, without the rows the manifest says were spoiled."""
    fmt = FORMATS[table]
    path = out / fmt.file
    if fmt.kind == "parquet":
        frame = pl.read_parquet(path).select(pl.all().cast(pl.String))
    elif fmt.kind == "jsonl":
        frame = pl.read_ndjson(path).select(pl.all().cast(pl.String))
    else:
        text = path.read_bytes().decode(fmt.encoding)
        frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    spoiled = pl.read_parquet(out / "truth" / "dirt.parquet").filter(pl.col("table") == table)["row"]
    return (
        frame.with_row_index("_row")
        .filter(~pl.col("_row").cast(pl.Int64).is_in(spoiled.implode()))
        .drop("_row")
    )


def typed(out: Path, table: str) -> pl.DataFrame:
    frame = load(out, table)
    t = BY_NAME[table]
    casts = {
        f.name: f.dtype for f in t.fields if f.name in frame.columns and f.dtype in (pl.Date, pl.Float64)
    }
    return frame.with_columns(
        [pl.col(c).str.to_date("%Y-%m-%d") if d == pl.Date else pl.col(c).cast(d) for c, d in casts.items()]
    )


# ------------------------------------------------------------------------------------------ determinism
def _digests(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    config = CityConfig(entities=800, years=3, seed=5, dirt_rate=0.02)
    generate(config, tmp_path / "a")
    generate(config, tmp_path / "b")
    generate(CityConfig(entities=800, years=3, seed=6, dirt_rate=0.02), tmp_path / "c")
    a, b, c = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert len(a) == len(TABLES) + 6  # the tables, the inspector roster, four truth files and the report
    assert a == b
    # The roster depends on the city's size only (names come from the index), not on the seed.
    seedless = {"truth/report.json", f"{ROSTERS_DIR}/inspectors.csv"}
    assert all(a[name] != c[name] for name in a if name not in seedless)


def test_files_follow_the_ingest_naming_and_encodings(city: tuple[Path, GenerationReport]) -> None:
    out, report = city
    top = sorted(p.name for p in out.iterdir() if p.is_file())
    assert top == sorted(FORMATS[t.name].file for t in TABLES)
    assert (out / "entities.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    penalties = (out / "penalties.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        penalties.decode("utf-8")
    assert "市监罚〔" in penalties.decode("gb18030")
    assert [f.table for f in report.files] == [t.name for t in TABLES]
    assert report.records == sum(f.rows for f in report.files) > 20 * CONFIG.entities / 2


def test_columns_are_the_catalog_columns_with_raw_id_numbers(city: tuple[Path, GenerationReport]) -> None:
    out, _ = city
    for t in TABLES:
        columns = load(out, t.name).columns
        expected = t.columns
        if t.name == "persons":
            expected = ["id_number", "name"]
        if t.name == "relations":
            expected = [("person_id_number" if c == "person_key" else c) for c in t.columns]
        assert columns == expected, t.name


# ---------------------------------------------------------------------------------------------- codes
def test_usccs_are_valid_yancheng_codes_in_plausible_proportions(city: tuple[Path, GenerationReport]) -> None:
    out, _ = city
    entities = load(out, "entities")
    codes = entities["uscc"].to_list()
    verdicts = [uscc.validate(c).status for c in codes]
    assert all(v.ok for v in verdicts)
    assert entities["uscc"].n_unique() == len(codes)
    org_warnings = sum(v is uscc.Status.ORG_CODE_WARNING for v in verdicts) / len(codes)
    assert org_warnings < 0.02  # GB 11714 passes "mostly"
    assert {uscc.division_code(c) for c in codes} <= {d.code for d in DIVISIONS}
    share = entities["uscc"].str.slice(0, 2).value_counts(normalize=True)
    shares = dict(zip(share["uscc"], share["proportion"], strict=True))
    assert 0.50 < shares["92"] < 0.70 and 0.28 < shares["91"] < 0.43 and 0.015 < shares["93"] < 0.06
    assert 0 < shares.get("12", 0) < 0.02 and 0 < shares.get("52", 0) < 0.02
    kinds = entities.group_by(pl.col("uscc").str.slice(0, 2)).agg(pl.col("entity_type").unique())
    assert dict(kinds.iter_rows())["92"] == ["individual_business"]


def test_id_numbers_are_valid_with_real_area_prefixes(city: tuple[Path, GenerationReport]) -> None:
    out, _ = city
    ids = load(out, "persons")["id_number"]
    assert ids.n_unique() == len(ids)
    assert all(identity.is_valid(x) for x in ids.to_list())
    assert set(ids.str.slice(0, 6).to_list()) <= {a for a, _ in ID_AREAS}
    yancheng = ids.str.starts_with("3209").mean()
    assert isinstance(yancheng, float) and 0.75 < yancheng < 0.95
    adult_by = END - timedelta(days=18 * 365)
    born = ids.to_frame().select(identity.birth_date_expr(pl.col("id_number")))["id_number"]
    assert max(born.to_list()) <= adult_by  # every person is an adult by the end of the window


# --------------------------------------------------------------------------------------- distributions
def test_population_distributions_are_within_stated_ranges(city: tuple[Path, GenerationReport]) -> None:
    out, _ = city
    e = typed(out, "entities")
    start = date(END.year - CONFIG.years, END.month, END.day) + timedelta(days=1)
    assert e["established_on"].max() <= END  # type: ignore[operator]
    opened = (e["established_on"] >= start).mean()
    closed = e["closed_on"].is_not_null().mean()
    assert 0.3 < opened < 0.6 and 0.08 < closed < 0.45  # type: ignore[operator]
    assert e.filter(pl.col("closed_on").is_not_null())["status"].is_in(["deregistered", "revoked"]).all()
    assert e.filter(pl.col("closed_on").is_null())["status"].is_in(["active", "suspended"]).all()
    assert e["industry"].str.contains(r"^[A-T][0-9]{2}$").all()
    medians = dict(e.group_by("entity_type").agg(pl.col("registered_capital").median()).iter_rows())
    assert 3e5 < medians["enterprise"] < 3e6 and 2e4 < medians["individual_business"] < 1.5e5
    # Shared addresses and phones: some entities share, most do not.
    shared = e.group_by("address").len().filter(pl.col("len") > 1)["len"].sum() / e.height
    assert 0.1 < shared < 0.6


def test_relations_are_consistent(city: tuple[Path, GenerationReport]) -> None:
    out, _ = city
    rel = typed(out, "relations")
    persons = set(load(out, "persons")["id_number"].to_list())
    entities = set(load(out, "entities")["uscc"].to_list())
    people = rel.filter(pl.col("relation_type") != "investment")
    assert set(people["person_id_number"].to_list()) <= persons
    assert set(rel["uscc"].to_list()) <= entities
    inv = rel.filter(pl.col("relation_type") == "investment")
    assert inv.height > 0 and set(inv["related_uscc"].to_list()) <= entities
    held = (
        rel.filter(pl.col("share").is_not_null())
        .group_by(
            pl.when(pl.col("relation_type") == "investment")
            .then("related_uscc")
            .otherwise("uscc")
            .alias("held")
        )
        .agg(pl.col("share").sum())
    )
    assert held["share"].max() <= 1.0 + 1e-9  # type: ignore[operator]
    reps = rel.filter(pl.col("relation_type") == "legal_representative").group_by("uscc").len()
    spoiled = pl.read_parquet(out / "truth" / "dirt.parquet").filter(pl.col("table") == "relations").height
    assert len(entities) - spoiled <= reps.height <= len(entities) and reps["len"].max() == 1
    # Heavy-tailed control: most controllers have one entity, a few have many.
    controlled = (
        rel.filter(pl.col("relation_type") == "legal_representative")
        .group_by("person_id_number")
        .len()["len"]
    )
    assert controlled.median() == 1 and controlled.max() >= 8  # type: ignore[operator]
    assert (rel["valid_from"] <= rel["valid_to"]).fill_null(True).all()


def test_event_dates_are_within_the_window(city: tuple[Path, GenerationReport]) -> None:
    out, _ = city
    start = date(END.year - CONFIG.years, END.month, END.day) + timedelta(days=1)
    for t in TABLES:
        if t.event_date is None or t.name in ("entities", "relations"):
            continue
        frame = typed(out, t.name)
        assert frame.height > 0, t.name
        for f in t.fields:
            if "past_date" in f.rules:
                col = frame[f.name].drop_nulls()
                assert col.min() >= start and col.max() <= END, (t.name, f.name)  # type: ignore[operator]
        for o in t.orderings:
            assert (frame[o.earlier] <= frame[o.later]).fill_null(True).all(), (t.name, o)
    pen = load(out, "penalties")
    assert pen["decision_no"].str.contains(r"^\S+市监罚〔20[0-9]{2}〕[0-9]+号$").all()
    assert set(pen["severity"].unique()) == {"minor", "general", "serious"}


def test_repairs_come_after_the_minimum_periods(city: tuple[Path, GenerationReport]) -> None:
    out, _ = city
    pen = typed(out, "penalties").select(
        "decision_no", pl.col("decided_on").alias("penalty_on"), "domain", "severity"
    )
    rep = typed(out, "repairs").filter(pl.col("record_table") == "penalties")
    joined = rep.join(pen, left_on="record_id", right_on="decision_no", how="inner")
    assert joined.height > 10
    strict = pl.col("domain").is_in(["food", "drug", "special_equipment"]) | (pl.col("severity") == "serious")
    wait = (pl.col("applied_on") - pl.col("penalty_on")).dt.total_days()
    assert joined.filter(strict).select(wait.min()).item() >= 365
    assert joined.select(wait.min()).item() >= 182
    obj = load(out, "objections")
    assert obj.filter(pl.col("outcome") == "upheld")["resolution"].is_in(["corrected", "revoked"]).all()
    assert obj.filter(pl.col("outcome") == "pending")["decided_on"].is_null().all()


def test_records_follow_latent_risk(city: tuple[Path, GenerationReport]) -> None:
    out, _ = city
    truth = pl.read_parquet(out / "truth" / "entities.parquet")
    pen = load(out, "penalties").group_by("uscc").len()
    risk = truth.join(pen, on="uscc", how="left").with_columns(pl.col("len").fill_null(0))
    with_pen = risk.filter(pl.col("len") > 0)["base_logit"].mean()
    without = risk.filter(pl.col("len") == 0)["base_logit"].mean()
    assert with_pen > without + 0.3  # type: ignore[operator]
    grades = (
        load(out, "evaluations")
        .filter(pl.col("scheme") == "public_credit")
        .join(truth, on="uscc")
        .group_by("grade")
        .agg(pl.col("base_logit").mean())
        .sort("grade")["base_logit"]
        .to_list()
    )
    assert grades == sorted(grades)  # A lowest risk … D highest
    # Risk clusters in groups: one shared effect per group.
    per_group = truth.group_by("group_id").agg(pl.col("group_effect").n_unique())
    assert per_group["group_effect"].max() == 1
    lists = load(out, "list_entries")
    assert set(lists["list_type"].unique()) == {
        "severe_dishonesty",
        "abnormal_operations",
        "court_dishonest_debtor",
        "red_list",
    }


# ------------------------------------------------------------------------------------ truth and draws
def test_oracle_auc_is_well_above_chance(city: tuple[Path, GenerationReport]) -> None:
    out, report = city
    truth = pl.read_parquet(out / "truth" / "inspections.parquet")
    outcome = truth.join(load(out, "inspections").select("inspection_id", "outcome"), on="inspection_id")
    positive = outcome["outcome"].is_in(["violation", "serious_violation"]).to_numpy()
    value = roc_auc_score(positive, outcome["violation_probability"].to_numpy())
    assert value > 0.68
    assert report.oracle_auc == pytest.approx(value, abs=0.03)  # the report's, before dirt
    assert 0.08 < report.violation_rate < 0.4


def test_draws_use_tier_ratios_and_a_uniform_control_slice(city: tuple[Path, GenerationReport]) -> None:
    out, _ = city
    truth = pl.read_parquet(out / "truth" / "inspections.parquet")
    c = CONFIG.control_rate
    ratio = dict(zip("ABCD", CONFIG.tier_ratios, strict=True))
    expected = truth["tier_at_draw"].replace_strict({k: c + (1 - c) * r for k, r in ratio.items()})
    assert_series_equal(truth["selection_probability"], expected, check_names=False, rel_tol=0, abs_tol=1e-12)
    entities = pl.read_parquet(out / "truth" / "entities.parquet").join(typed(out, "entities"), on="uscc")
    for drawn_on, rows in truth.group_by("drawn_on", maintain_order=True):
        day = drawn_on[0]
        active = entities.filter(
            (pl.col("established_on") <= day) & (pl.col("closed_on").is_null() | (pl.col("closed_on") > day))
        ).height
        control = int(rows["in_control_slice"].sum())
        sd = (active * c * (1 - c)) ** 0.5
        assert abs(control - active * c) < 4 * sd + 2, (day, control, active)
        # Tier draws: about share × ratio of the active population per tier (besides the control slice).
        for tier, share, r in zip("ABCD", CONFIG.tier_shares, CONFIG.tier_ratios, strict=True):
            n = rows.filter(pl.col("tier_at_draw") == tier).height
            mean = active * share * (c + (1 - c) * r)
            assert abs(n - mean) < 4 * mean**0.5 + 3, (day, tier, n, mean)
    # Two distinct inspectors per inspection, from a roster of about one per 300 entities.
    ins = load(out, "inspections")["inspectors"].str.split(";")
    assert (ins.list.len() == 2).all() and (ins.list.first() != ins.list.last()).all()
    roster = ins.explode().n_unique()
    assert roster <= CONFIG.entities / CONFIG.entities_per_inspector + 2 * len(DIVISIONS)


# ------------------------------------------------------------------------------------ config and CLI
def test_config_errors_name_the_parameter(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="end_date"):
        generate(CityConfig(end_date=date.today() + timedelta(days=1)), tmp_path / "x")
    with pytest.raises(ValueError, match="tier_shares"):
        generate(CityConfig(tier_shares=(0.5, 0.5, 0.5, 0.5)), tmp_path / "x")
    with pytest.raises(ValueError, match="entities"):
        generate(CityConfig(entities=5), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_out_folder_is_never_clobbered(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    config = CityConfig(entities=300, years=2, seed=1)
    with pytest.raises(FileExistsError):
        generate(config, foreign, force=True)
    assert (foreign / "notes.txt").read_text() == "mine"
    generate(config, tmp_path / "city")
    with pytest.raises(FileExistsError):
        generate(config, tmp_path / "city")
    generate(CityConfig(entities=300, years=2, seed=2), tmp_path / "city", force=True)
    report = json.loads((tmp_path / "city" / "truth" / "report.json").read_text())
    assert report["config"]["seed"] == 2
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_no_dirt_when_the_rate_is_zero(tmp_path: Path) -> None:
    report = generate(CityConfig(entities=300, years=2, dirt_rate=0.0), tmp_path / "clean")
    assert report.dirt_rows == 0
    assert pl.read_parquet(tmp_path / "clean" / "truth" / "dirt.parquet").height == 0


def test_cli_generate_prints_the_report(tmp_path: Path) -> None:
    from serving.cli import app

    out = tmp_path / "cli-city"
    args = ["--home", str(tmp_path / "home"), "--json", "data", "generate", "--entities", "400"]
    result = CliRunner().invoke(app, [*args, "--years", "2", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["config"]["entities"] == 400 and 0.5 < payload["oracle_auc"] < 1
    assert (out / "entities.csv").exists()
    again = CliRunner().invoke(app, [*args, "--years", "2", "--seed", "3", "--out", str(out)])
    assert again.exit_code == 1 and "not empty" in again.stdout
    bad = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "y"), "--end-date", "2026-02-30"])
    assert bad.exit_code == 1 and "--end-date" in bad.stdout


def test_inspector_roster_covers_every_inspector_of_the_inspections(
    city: tuple[Path, GenerationReport],
) -> None:
    out, _ = city
    roster = pl.read_csv(out / ROSTERS_DIR / "inspectors.csv", infer_schema=False)
    assert roster["inspector_id"].is_unique().all()
    inspections = pl.read_parquet(out / FORMATS["inspections"].file)
    used = set(inspections["inspectors"].str.split(";").explode().drop_nulls().to_list())
    assert used <= set(roster["inspector_id"].to_list())
    # every inspector is qualified for the items of the tasks they inspected
    items = set(inspections["check_items"].str.split(";").explode().drop_nulls().to_list())
    assert items <= set(roster["qualifications"][0].split(";"))
    assert set(roster["division_code"].to_list()) == {d.code for d in DIVISIONS}


def test_registered_names_are_unique(city: tuple[Path, GenerationReport]) -> None:
    # Registration refuses a taken name; the only duplicates in the file are the injected dirt rows.
    out, _ = city
    entities = pl.read_csv(out / FORMATS["entities"].file, infer_schema=False, encoding="utf8")
    dirt = pl.read_parquet(out / "truth" / "dirt.parquet").filter(pl.col("table") == "entities")
    clean = entities.with_row_index("row").filter(~pl.col("row").is_in(dirt["row"].cast(pl.UInt32).to_list()))
    named = clean.drop_nulls("name")
    assert named["name"].n_unique() == named.height

"""`creditwatch score` and `creditwatch features build` on Dask (issue 16): a run with --dask-local 2 writes
partitioned Parquet folders with the single-process run's rows, values, tiers and reasons; the API and the
score store serve them; the doors refuse a wrong combination of options; a single-process run replaces a
partitioned one (docs/scaling.md)."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from features.build import build_features
from features.lake import sources
from features.partitioned import STAGING, parts_of, read_run
from serving.api.app import create_app
from serving.cli import app
from serving.services import scoring
from serving.services.current_score import RefusedFile, check_score_file, score_store
from serving.services.scoring import _score_written_part
from serving.workspace import Workspace, manifest_of
from supervision.platform.access import Role
from tests.conftest import china_half_past_midnight
from tests.serving.api_city import AS_OF, EARLIER, City, build_city
from tests.serving.api_city import ok as _ok

pytestmark = pytest.mark.slow  # the module's city (~45 s) and two local clusters


@dataclass
class Runs:
    city: City
    scores: pl.DataFrame  # the single-process run's, as written by `creditwatch score`
    features: pl.DataFrame
    answer: dict[str, object]  # what `creditwatch --json score --dask-local 2` printed


def _cli(city: City, *args: str) -> object:
    result = CliRunner().invoke(app, ["--home", str(city.settings.home), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    city = build_city(tmp_path_factory.mktemp("dask-score-city"))
    ws = Workspace(city.settings.home)
    scores, features = pl.read_parquet(ws.score_file(AS_OF)), pl.read_parquet(ws.feature_file(AS_OF))
    answer = _cli(city, "score", "--as-of", AS_OF.isoformat(), "--dask-local", "2", "--partitions", "3")
    assert isinstance(answer, dict)
    yield Runs(city, scores, features, answer)
    city.engine.dispose()


def test_a_dask_score_run_equals_the_single_process_run(runs: Runs) -> None:
    ws = Workspace(runs.city.settings.home)
    path = ws.score_file(AS_OF)
    assert runs.answer["path"] == str(path) and runs.answer["entities"] == runs.scores.height
    assert path.is_dir() and [p.name for p in parts_of(path)] == [f"part-0000{k}.parquet" for k in range(3)]
    assert manifest_of(path).exists() and not list((ws.scores / STAGING).iterdir())
    frame, manifested = check_score_file(AS_OF, path, manifest_required=True)
    assert manifested
    assert frame.columns == runs.scores.columns
    # Same rows, same tiers and reasons (text and features), probabilities within 1e-9.
    exact = ["uscc", "as_of", "model_tier", "tier", "override", "model_version", "reasons_zh", "reasons_en"]
    assert frame.select(exact).equals(runs.scores.select(exact))
    names = pl.col("reasons").list.eval(pl.element().struct.field("feature"))
    assert frame.select(names).equals(runs.scores.select(names))
    assert_frame_equal(frame.drop(exact), runs.scores.drop(exact), check_exact=False, rel_tol=0, abs_tol=1e-9)
    # The tier counts the run reported are the file's.
    counts = {t["tier"]: t["entities"] for t in runs.answer["tiers"]}  # type: ignore[attr-defined]
    assert counts == dict(frame.group_by("tier").len().iter_rows())


def test_the_features_scored_are_written_partitioned_and_equal(runs: Runs) -> None:
    path = Workspace(runs.city.settings.home).feature_file(AS_OF)
    assert path.is_dir() and manifest_of(path).exists()
    assert_frame_equal(read_run(path), runs.features, check_exact=False, rel_tol=0, abs_tol=1e-9)


def test_the_api_serves_the_partitioned_run(runs: Runs) -> None:
    city = runs.city
    uscc = city.usccs[100]
    want = runs.scores.filter(pl.col("uscc") == uscc).row(0, named=True)
    with TestClient(create_app(city.settings, engine=city.engine, clock=china_half_past_midnight())) as c:
        score = _ok(c.get(f"/entities/{uscc}/score", headers=city.tokens[Role.SYSTEM]))
        explained = _ok(c.get(f"/entities/{uscc}/explanation", headers=city.tokens[Role.ANALYST]))
        history = _ok(c.get(f"/entities/{uscc}/history", headers=city.tokens[Role.ANALYST]))["scores"]
    assert (score["as_of"], score["source"], score["tier"]) == (
        str(AS_OF),
        f"score_file:{AS_OF}",
        want["tier"],
    )
    assert abs(score["probability"] - want["probability"]) < 1e-9
    # The explanation read the stored features: the partitioned folder's row of the entity.
    assert (explained["as_of"], explained["features_from"]) == (str(AS_OF), f"score_file:{AS_OF}")
    assert [p["as_of"] for p in history if p["source"].startswith("score_file:")] == [
        str(EARLIER),
        str(AS_OF),
    ]
    table = score_store(city.settings.home).table(AS_OF)
    assert table is not None and table.frame.height == runs.scores.height


def test_features_build_on_dask_equals_the_single_process_build(runs: Runs, tmp_path: Path) -> None:
    city = runs.city
    out = tmp_path / "features"
    answer = _cli(
        city, "features", "build", "--as-of", EARLIER.isoformat(), "--dask-local", "2", "--out", str(out)
    )
    assert isinstance(answer, dict)
    (built,) = answer["built"]
    path = out / f"as_of={EARLIER}.parquet"
    assert built["path"] == str(path) and path.is_dir() and len(parts_of(path)) == 4  # 2 × workers
    single = build_features(sources(city.settings.lake_dir), as_of=EARLIER).collect()
    assert built["rows"] == single.height and built["columns"] == single.width
    assert_frame_equal(read_run(path), single, check_exact=False, rel_tol=0, abs_tol=1e-9)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dask", "tcp://127.0.0.1:1", "--dask-local", "2"], "not both"),
        (["--partitions", "3"], "only a Dask run"),
        (["--dask-local", "0"], "at least 1"),
    ],
)
def test_the_doors_refuse_a_wrong_combination_of_dask_options(
    runs: Runs, args: list[str], message: str
) -> None:
    home = str(runs.city.settings.home)
    for command in (["score"], ["features", "build"]):
        result = CliRunner().invoke(app, ["--home", home, *command, "--as-of", EARLIER.isoformat(), *args])
        assert result.exit_code != 0
        assert message in " ".join(result.output.split()), result.output


def test_a_partitioned_run_that_does_not_match_its_manifest_is_refused(runs: Runs, tmp_path: Path) -> None:
    source = Workspace(runs.city.settings.home).score_file(AS_OF)
    assert source.is_dir()
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    shutil.copy(manifest_of(source), manifest_of(copy))
    assert check_score_file(AS_OF, copy, manifest_required=True)[0].height == runs.scores.height
    (copy / "part-00001.parquet").rename(copy / "part-00009.parquet")  # same bytes, another part name
    with pytest.raises(RefusedFile, match="another SHA-256"):
        check_score_file(AS_OF, copy, manifest_required=True)
    shutil.rmtree(copy)
    copy.mkdir()  # a folder without parts (and without a manifest)
    manifest_of(copy).unlink()
    with pytest.raises(RefusedFile, match="without part files"):
        check_score_file(AS_OF, copy, manifest_required=False)


def test_a_scheduler_that_does_not_answer_is_a_clear_error(runs: Runs) -> None:
    import dask

    home = str(runs.city.settings.home)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(
            app, ["--home", home, "score", "--as-of", EARLIER.isoformat(), "--dask", "tcp://127.0.0.1:9"]
        )
    assert result.exit_code != 0
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in " ".join(result.output.split())
    assert not (Workspace(runs.city.settings.home).scores / STAGING).exists() or not list(
        (Workspace(runs.city.settings.home).scores / STAGING).iterdir()
    )


def test_a_single_process_run_replaces_a_partitioned_run(runs: Runs) -> None:
    city = runs.city
    path = Workspace(city.settings.home).score_file(AS_OF)
    assert path.is_dir()  # the module's Dask run
    _cli(city, "score", "--as-of", AS_OF.isoformat())
    assert path.is_file()
    frame, manifested = check_score_file(AS_OF, path, manifest_required=True)
    assert manifested and frame.equals(runs.scores)
    assert not list((path.parent / STAGING).iterdir())


def _score_or_die_once(features_staging: str, k: int, *args: object, **kwargs: object) -> pl.DataFrame:
    """Partition 1's score task kills its own worker the first time it runs (the retry finds the marker
    beside the home): a worker lost while the city is being scored, after the features were staged and the
    partitions' inputs released."""
    marker = Path(features_staging).parents[2] / "score-worker-killed"
    if k == 1 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return _score_written_part(features_staging, k, *args, **kwargs)  # type: ignore[arg-type]


def test_a_worker_killed_while_scoring_loses_nothing(runs: Runs, monkeypatch: pytest.MonkeyPatch) -> None:
    # The score tasks read their partition back from the staged feature part: a retried one needs nothing
    # the run has released.
    monkeypatch.setattr(scoring, "_score_written_part", _score_or_die_once)
    out = runs.city.settings.home / "killed-run-scores.parquet"
    answer = _cli(
        runs.city,
        "score",
        "--as-of",
        AS_OF.isoformat(),
        "--dask-local",
        "2",
        "--partitions",
        "3",
        "--out",
        str(out),
    )
    assert (runs.city.settings.home / "score-worker-killed").exists()  # a worker did die mid-scoring
    assert isinstance(answer, dict) and answer["entities"] == runs.scores.height
    exact = ["uscc", "tier", "reasons_zh", "reasons_en"]
    frame = read_run(out)
    assert frame.select(exact).equals(runs.scores.select(exact))
    assert_frame_equal(frame, runs.scores, check_exact=False, rel_tol=0, abs_tol=1e-9)

"""``creditwatch demo``: the main job end to end on embedded defaults, as the commands an analyst would type.

generate a synthetic city → ingest it (quarantine shown) → governance report → train a model → promote it
through the gate → score every entity → import the inspector roster → create, draw and verify a
double-random task → assign inspectors with recusal → export the inspectors' list. Each step runs the same
command a person would, so the demo exercises exactly what the CLI offers.
"""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from typing import Annotated, Any

import typer

from features.synth import CityConfig
from serving.cli.state import State

PERIOD = "2026H2"
TASK = "DEMO-2026H2-XY"
DEPARTMENT = "盐城市市场监督管理局（信用监管）"
ITEMS = ("登记事项", "年度报告公示")


def register(root: typer.Typer) -> None:
    root.command(
        "demo", help="Everyone: run the whole pipeline on a synthetic city (the README's `make demo`)."
    )(demo)


def _runner() -> Any:
    from serving.cli import app  # the root app; imported here because this module is part of it

    return typer.main.get_command(app)


def demo(
    ctx: typer.Context,
    entities: Annotated[int, typer.Option(help="entities in the synthetic city")] = 20_000,
    years: Annotated[int, typer.Option(help="years of records")] = 5,
    seed: Annotated[
        int, typer.Option(help="seed of the city and the model (the draw's seed is secret until it is drawn)")
    ] = 0,
    fresh: Annotated[
        bool, typer.Option(help="start from an empty home (deletes HOME's lake, db, MLflow)")
    ] = True,
) -> None:
    """Generate → ingest → govern → train → promote → score → draw → assign → export, in HOME."""
    state: State = ctx.obj
    home = state.settings.home
    end = CityConfig().end_date  # the generator's default last day of records
    as_of = end + timedelta(days=1)
    if fresh:
        for name in ("city", "lake", "features", "scores", "sampling", "exports", "mlartifacts"):
            shutil.rmtree(home / name, ignore_errors=True)
        for name in ("creditwatch.db", "mlflow.db"):
            (home / name).unlink(missing_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    command = _runner()
    started = time.perf_counter()

    def step(title: str, *args: str) -> None:
        state.console.rule(f"[bold]{title}[/bold]")
        state.console.print("$ creditwatch " + " ".join(args), style="dim")
        code = command.main(args=["--home", str(home), *args], prog_name="creditwatch", standalone_mode=False)
        if code not in (None, 0):
            raise state.fail(f"demo stopped: `creditwatch {' '.join(args)}` exited with {code}")

    city = home / "city"
    scores = home / "scores" / f"as_of={as_of.isoformat()}.parquet"
    step("1. a synthetic city (合成城市)", "data", "generate", "--out", str(city), "--entities", str(entities),
         "--years", str(years), "--seed", str(seed), "--end-date", end.isoformat())  # fmt: skip
    step("2. ingest with quarantine (入湖与隔离)", "db", "upgrade")
    step("2. ingest with quarantine (入湖与隔离)", "data", "ingest", str(city))
    step("3. wrong and duplicate codes (重错码治理)", "data", "governance")
    step("4. train a challenger (训练)", "train", "--seed", str(seed))
    version = _latest_version(state)
    step("5. promote through the gate (晋级)", "models", "promote", version, "--who", "demo",
         "--why", "first model of the demo city")  # fmt: skip
    step("6. score every entity (评分与分级)", "score", "--as-of", as_of.isoformat(), "--out", str(scores))
    step("7. inspector roster (执法检查人员名录库)", "sample", "inspectors", "import",
         str(city / "rosters" / "inspectors.csv"))  # fmt: skip
    step("8. a double-random task (双随机抽查任务)", "sample", "create", "--scores", str(scores),
         "--department", DEPARTMENT, *[a for item in ITEMS for a in ("--item", item)], "--period", PERIOD,
         "--ratio", "0.05", "--as-of", as_of.isoformat(), "--task-id", TASK)  # fmt: skip
    step("9. draw and reveal the seed (抽取)", "sample", "draw", TASK)
    step("10. anyone can verify the draw (验证)", "sample", "verify", TASK)
    step("11. inspectors drawn with recusal (随机匹配执法人员、回避)", "sample", "assign", PERIOD)
    export = home / "exports" / f"{TASK}.xlsx"
    export.parent.mkdir(parents=True, exist_ok=True)
    step("12. the inspectors' list (抽查清单)", "sample", "export", TASK, "--out", str(export),
         "--scores", str(scores))  # fmt: skip
    state.console.rule("[bold]done[/bold]")
    state.emit(
        {
            "home": str(home),
            "lake": str(state.settings.lake_dir),
            "scores": str(scores),
            "model_version": version,
            "task": TASK,
            "export": str(export),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )


def _latest_version(state: State) -> str:
    from training.registry import Registry

    versions = Registry(state.settings.mlflow_uri).versions()
    if not versions:
        raise state.fail("training registered no model version")
    return str(max(int(v["version"]) for v in versions))

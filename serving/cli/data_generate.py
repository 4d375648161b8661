"""``creditwatch data generate``: write a seeded synthetic city (source files + ``truth/``) for demos and
tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from features.synth import STEPS, CityConfig, generate
from serving.cli.state import State

_DEFAULT = CityConfig()


def generate_command(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", help="folder to write (must be empty or absent, see --force)")
    ],
    entities: Annotated[
        int, typer.Option("--entities", help="number of market entities in the registry")
    ] = _DEFAULT.entities,
    years: Annotated[
        int, typer.Option("--years", help="years of records, ending on --end-date")
    ] = _DEFAULT.years,
    seed: Annotated[
        int, typer.Option("--seed", help="random seed: the same seed gives identical files")
    ] = _DEFAULT.seed,
    dirt_rate: Annotated[
        float, typer.Option("--dirt-rate", help="share of rows spoiled for ingest's quarantine (0 for none)")
    ] = _DEFAULT.dirt_rate,
    end_date: Annotated[
        str | None,
        typer.Option("--end-date", help=f"last day of the records, yyyy-mm-dd [default {_DEFAULT.end_date}]"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="replace a city this command wrote before in the same folder")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="print the report as JSON (same as the global --json)")
    ] = False,
) -> None:
    """Generate the synthetic city: every catalog table as source files, plus the truth in OUT/truth/."""
    state: State = ctx.obj
    if json_output:
        state.json = True
    try:
        end = date.fromisoformat(end_date) if end_date else _DEFAULT.end_date
    except ValueError:
        raise state.fail(f"--end-date {end_date!r} is not a date yyyy-mm-dd") from None
    config = CityConfig(entities=entities, years=years, seed=seed, dirt_rate=dirt_rate, end_date=end)
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=state.err,
        disable=state.json,
    )
    with progress:
        task = progress.add_task("generating", total=len(STEPS))
        done: list[str] = []

        def step(name: str) -> None:
            if done:
                progress.advance(task)
            done.append(name)
            progress.update(task, description=f"generating: {name}")

        try:
            report = generate(config, out, force=force, progress=step)
        except (ValueError, FileExistsError) as exc:
            raise state.fail(str(exc)) from None
        progress.update(task, completed=len(STEPS), description="generated")
    payload = report.to_dict()
    if state.json:
        state.emit(payload)
        return
    state.emit(
        payload,
        rows=[asdict(f) for f in report.files],
        columns=["table", "file", "rows", "dirt_rows"],
        title=f"synthetic city in {out}",
    )
    state.console.print(
        f"{report.records:,} rows ({report.dirt_rows:,} injected dirt rows, listed in truth/dirt.parquet); "
        f"{report.inspections:,} inspections, violation rate {report.violation_rate:.3f}, "
        f"oracle AUC {report.oracle_auc:.3f}; {report.seconds:.1f} s"
    )


COMMANDS: dict[str, Callable[..., Any]] = {"generate": generate_command}

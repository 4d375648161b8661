"""``creditwatch demo``: the main job end to end on embedded defaults, as the commands an analyst would type.

generate a synthetic city → ingest it (quarantine shown) → governance report → train a model → promote it
through the gate → score every entity → import the inspector roster → create, draw and verify a
double-random task → assign inspectors with recusal → export the inspectors' list. Each step runs the same
command a person would, so the demo exercises exactly what the CLI offers.

Then it issues one API token per role (``demo-<role>``, the inspector's under a roster id, the entity's bound
to the USCC with the most penalties of the city; a re-run revokes the previous ones), prints them
with what each role opens, and serves the API and the pages like ``creditwatch serve`` until Ctrl-C
(``--no-serve`` stops after printing). With ``--json`` the steps' output goes to stderr and stdout is one
JSON document.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from datetime import timedelta
from typing import Annotated, Any

import polars as pl
import typer

from features.synth import CityConfig
from serving.cli.serve import run_server
from serving.cli.state import State
from serving.services import admin
from serving.services.context import Context
from supervision.platform import access
from supervision.sampling import visits

PERIOD = "2026H2"
TASK = "DEMO-2026H2-XY"
DEPARTMENT = "盐城市市场监督管理局（信用监管）"
DIVISION = "320900"  # the city (盐城市)
ITEMS = ("登记事项", "年度报告公示")
TOKEN_PREFIX = "demo-"
# What each role opens once the demo serves (the web pages live under /ui; API paths are relative to the URL).
OPENS = {
    access.Role.INSPECTOR: "{ui}: my tasks, the sampling list, recording results",
    access.Role.ANALYST: "{ui}: model versions, metrics, promote with a reason",
    access.Role.SUPERVISOR: "{ui}: search an entity, its tier, reasons and related parties",
    access.Role.ADMIN: "{ui}; API GET {base}/tokens, GET {base}/audit/verify",
    access.Role.SYSTEM: "API POST {base}/check (逢办必查), POST {base}/scores/batch",
    access.Role.ENTITY: "{ui}: the credit service zone (信用服务专区) of {uscc}: its record, objections, "
    "repair, commitments, self-reports",
}


class _Stopped(Exception):
    """A step of the demo failed (the message says which)."""


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
    serve: Annotated[
        bool,
        typer.Option(
            help="after the pipeline, serve the API and pages (like `creditwatch serve`) until Ctrl-C"
        ),
    ] = True,
    host: Annotated[str, typer.Option(help="interface to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to serve on")] = 8000,
) -> None:
    """Generate → ingest → govern → train → promote → score → draw → assign → export, in HOME; then a token
    per role, and serve."""
    state: State = ctx.obj
    # The demo's own steps run as commands of this process: they run in demo mode too (synthetic data, the
    # built-in demo salt accepted; see Settings.refuse_demo_secrets).
    os.environ["CREDITWATCH_DEMO"] = "1"
    # With --json, stdout carries one JSON document: the steps (tables for people) print to stderr.
    quiet = contextlib.redirect_stdout(sys.stderr) if state.json else contextlib.nullcontext()
    try:
        with quiet:
            payload = _pipeline(state, entities=entities, years=years, seed=seed, fresh=fresh)
    except _Stopped as exc:  # reported outside the redirection: with --json, the error is on stdout
        raise state.fail(str(exc)) from None
    serve_step(state, host=host, port=port, payload=payload, serve=serve)


def _pipeline(state: State, *, entities: int, years: int, seed: int, fresh: bool) -> dict[str, Any]:
    workspace = state.settings.workspace
    home = workspace.home
    end = CityConfig().end_date  # the generator's default last day of records
    as_of = end + timedelta(days=1)
    if fresh:
        for folder in workspace.data_folders:
            shutil.rmtree(folder, ignore_errors=True)
        for database in (workspace.database, workspace.registry, workspace.audit_checkpoints):
            database.unlink(missing_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    command = _runner()
    started = time.perf_counter()

    acting: dict[str, str] = {}

    def step(title: str, *args: str, role: access.Role | None = None) -> None:
        # Department-bound steps act as the demo department's analyst or supervisor (`--as TOKEN`).
        who = ["--as", acting[role.value]] if role is not None else []
        state.console.rule(f"[bold]{title}[/bold]")
        shown = ["--as", f"$DEMO_{role.value.upper()}_TOKEN"] if role is not None else []
        state.console.print("$ creditwatch " + " ".join([*shown, *args]), style="dim")
        code = command.main(
            args=["--home", str(home), *who, *args], prog_name="creditwatch", standalone_mode=False
        )
        if code not in (None, 0):
            raise _Stopped(f"demo stopped: `creditwatch {' '.join(args)}` exited with {code}")

    city = workspace.city
    scores = workspace.score_file(as_of)
    step(
        "1. a synthetic city (合成城市)",
        "data",
        "generate",
        "--out",
        str(city),
        "--entities",
        str(entities),
        "--years",
        str(years),
        "--seed",
        str(seed),
        "--end-date",
        end.isoformat(),
    )
    step("2. ingest with quarantine (入湖与隔离)", "db", "upgrade")
    staff = (access.Role.ANALYST, access.Role.SUPERVISOR)
    acting.update({t["role"]: t["token"] for t in issue_tokens(state, "", staff)})
    step("2. ingest with quarantine (入湖与隔离)", "data", "ingest", str(city))
    step("3. wrong and duplicate codes (重错码治理)", "data", "governance")
    step("4. train a challenger (训练)", "train", "--seed", str(seed))
    version = _latest_version(state)
    step(
        "5. promote through the gate (晋级)",
        "models",
        "promote",
        version,
        "--why",
        "first model of the demo city",
        role=access.Role.ANALYST,
    )
    step("6. score every entity (评分与分级)", "score", "--as-of", as_of.isoformat(), "--out", str(scores))
    step(
        "7. inspector roster (执法检查人员名录库)",
        "sample",
        "inspectors",
        "import",
        str(city / "rosters" / "inspectors.csv"),
        role=access.Role.SUPERVISOR,
    )
    step(
        "8. a double-random task (双随机抽查任务)",
        "sample",
        "create",
        "--scores",
        str(scores),
        "--department",
        DEPARTMENT,
        *[a for item in ITEMS for a in ("--item", item)],
        "--period",
        PERIOD,
        "--ratio",
        "0.05",
        "--as-of",
        as_of.isoformat(),
        "--task-id",
        TASK,
        role=access.Role.SUPERVISOR,
    )
    step("9. draw and reveal the seed (抽取)", "sample", "draw", TASK, role=access.Role.SUPERVISOR)
    step("10. anyone can verify the draw (验证)", "sample", "verify", TASK)
    step(
        "11. inspectors drawn with recusal (随机匹配执法人员、回避)",
        "sample",
        "assign",
        PERIOD,
        role=access.Role.SUPERVISOR,
    )
    export = workspace.exports / f"{TASK}.xlsx"
    export.parent.mkdir(parents=True, exist_ok=True)
    step(
        "12. the inspectors' list (抽查清单)",
        "sample",
        "export",
        TASK,
        "--out",
        str(export),
        "--scores",
        str(scores),
        role=access.Role.SUPERVISOR,
    )
    state.console.rule("[bold]done[/bold]")
    return {
        "home": str(home),
        "lake": str(state.settings.lake_dir),
        "scores": str(scores),
        "model_version": version,
        "task": TASK,
        "export": str(export),
        "seconds": round(time.perf_counter() - started, 1),
    }


def base_url(host: str, port: int) -> str:
    """The address to open: a wildcard interface is reached on the loopback one."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"


def issue_tokens(
    state: State, base: str, roles: tuple[access.Role, ...] = tuple(access.Role)
) -> list[dict[str, str]]:
    """One token per role of `roles` for a person of the demo's department, named ``demo-<role>`` — except
    the inspector's, issued under the roster id of the inspector with the most visits (``person_id``), because
    that is how a token finds "my tasks". The demo's earlier tokens of those roles are revoked first, so
    re-running the demo leaves exactly one active token per role. Issued through the admin service, so
    audited like ``creditwatch tokens``."""
    issued = []
    with state.context() as ctx:
        inspector = visits.busiest_inspector(ctx.session)
        names = {
            role: inspector if role is access.Role.INSPECTOR and inspector else f"{TOKEN_PREFIX}{role.value}"
            for role in roles
        }
        for info in admin.list_tokens(ctx):
            stale = info.name in names.values() or info.name.startswith(f"{TOKEN_PREFIX}{info.role}")
            if stale and info.role in {r.value for r in roles} and info.revoked_at is None:
                admin.revoke_token(ctx, info.id)
        for role, name in names.items():
            if role is access.Role.ENTITY:
                # The regulated entity: bound to its USCC, in no department.
                uscc = demo_entity(ctx)
                new = admin.create_token(ctx, name=name, role=role, uscc=uscc)
            else:
                uscc = None
                new = admin.create_token(
                    ctx,
                    name=name,
                    role=role,
                    department=DEPARTMENT,
                    division=DIVISION,
                    person_id=inspector if role is access.Role.INSPECTOR else f"{TOKEN_PREFIX}{role.value}",
                )
            opens = OPENS[role].format(ui=f"{base}/ui/login", base=base, uscc=uscc)
            issued.append({"role": role.value, "name": name, "token": new.token, "open": opens})
    return issued


def demo_entity(ctx: Context) -> str:
    """The entity the demo's entity token is bound to: the one with the most penalties in the lake (the lowest
    USCC among equals), so its service zone has records to object to and repair."""
    counts = (
        ctx.sources()["penalties"]
        .group_by("uscc")
        .agg(pl.len().alias("n"))
        .sort(["n", "uscc"], descending=[True, False])
        .head(1)
        .collect()
    )
    if counts.height == 0:
        raise _Stopped("the lake has no penalties: no entity for the demo's entity token")
    uscc: str = counts["uscc"][0]
    return uscc


def serve_step(
    state: State, *, host: str, port: int, payload: dict[str, Any] | None = None, serve: bool = True
) -> list[dict[str, str]]:
    """The demo's last step on a built HOME: issue the tokens, print them (with ``payload`` under --json),
    then serve until Ctrl-C unless ``serve`` is False. Returns the tokens."""
    base = base_url(host, port)
    tokens = issue_tokens(state, base)
    out = {**(payload or {}), "url": f"{base}/ui/login", "api": base, "serving": serve, "tokens": tokens}
    if state.json:
        state.emit(out)
    else:
        if payload:
            state.emit(payload)
        state.console.rule("[bold]demo tokens (演示令牌)[/bold]")
        # Plain lines, not a table: a token must never be wrapped or cut when it is copied.
        width = max(len(t["role"]) for t in tokens)
        for t in tokens:
            typer.echo(f"{t['role']:<{width}}  {t['token']}  {t['open']}")
        typer.echo(f"Sign in at {base}/ui/login with a token; API calls send `Authorization: Bearer TOKEN`.")
        typer.echo("A re-run of the demo revokes these tokens and prints new ones.")
    if not serve:
        return tokens
    if not state.json:
        typer.echo(f"Serving {base} (OpenAPI at {base}/openapi.json) — press Ctrl-C to stop.")
    run_server(state, host=host, port=port)
    return tokens


def _latest_version(state: State) -> str:
    from training.registry import Registry

    versions = Registry(state.settings.mlflow_uri).versions()
    if not versions:
        raise _Stopped("training registered no model version")
    return str(max(int(v["version"]) for v in versions))

"""``creditwatch demo``: the main job end to end on embedded defaults, as the commands an analyst would type.

generate a synthetic city → ingest it (quarantine shown) → governance report → train a model → promote it
through the gate → score every entity → import the inspector roster → create, draw and verify a
double-random task → assign inspectors with recusal → export the inspectors' list. Each step runs the same
command a person would, so the demo exercises exactly what the CLI offers.

Then it issues one API token per role (``demo-<role>``, the inspector's under a roster id; a re-run revokes
the previous ones), prints them
with what each role opens, and serves the API and the pages like ``creditwatch serve`` until Ctrl-C
(``--no-serve`` stops after printing). With ``--json`` the steps' output goes to stderr and stdout is one
JSON document.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from datetime import timedelta
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from sqlalchemy.orm import Session

from features.synth import CityConfig
from serving.cli.admin import run_server
from serving.cli.state import State, open_session, operator
from supervision import access, audit, tasks

PERIOD = "2026H2"
TASK = "DEMO-2026H2-XY"
DEPARTMENT = "盐城市市场监督管理局（信用监管）"
ITEMS = ("登记事项", "年度报告公示")
TOKEN_PREFIX = "demo-"
# What each role opens once the demo serves (the web pages live under /ui; API paths are relative to the URL).
OPENS = {
    access.Role.INSPECTOR: "{ui}: my tasks, the sampling list, recording results",
    access.Role.ANALYST: "{ui}: model versions, metrics, promote with a reason",
    access.Role.SUPERVISOR: "{ui}: search an entity, its tier, reasons and related parties",
    access.Role.ADMIN: "{ui}; API GET {base}/tokens, GET {base}/audit/verify",
    access.Role.SYSTEM: "API POST {base}/check (逢办必查), POST {base}/scores/batch",
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
    # With --json, stdout carries one JSON document: the steps (tables for people) print to stderr.
    quiet = contextlib.redirect_stdout(sys.stderr) if state.json else contextlib.nullcontext()
    try:
        with quiet:
            payload = _pipeline(state, entities=entities, years=years, seed=seed, fresh=fresh)
    except _Stopped as exc:  # reported outside the redirection: with --json, the error is on stdout
        raise state.fail(str(exc)) from None
    serve_step(state, host=host, port=port, payload=payload, serve=serve)


def _pipeline(state: State, *, entities: int, years: int, seed: int, fresh: bool) -> dict[str, Any]:
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
            raise _Stopped(f"demo stopped: `creditwatch {' '.join(args)}` exited with {code}")

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


def busiest_inspector(session: Session) -> str | None:
    """The roster inspector on the most visits (ties: the smallest id), or None without assignments."""
    count = sa.func.count(tasks.TaskAssignment.visit_id)
    row = session.execute(
        sa.select(tasks.TaskAssignment.inspector_id, count)
        .group_by(tasks.TaskAssignment.inspector_id)
        .order_by(count.desc(), tasks.TaskAssignment.inspector_id)
        .limit(1)
    ).first()
    return None if row is None else str(row[0])


def issue_tokens(state: State, base: str) -> list[dict[str, str]]:
    """One token per role named ``demo-<role>`` — except the inspector's, issued under the roster id of the
    inspector with the most visits, because that is how a token finds "my tasks" (supervision.tasks.
    inspector_of). The demo's earlier tokens of those names are revoked first, so re-running the demo leaves
    exactly one active token per role. Audited like ``creditwatch tokens``."""
    actor = operator()
    issued = []
    with open_session(state) as session:
        audit.lock(session)  # the audited unit of work starts as a writer (see supervision.audit.lock)
        inspector = busiest_inspector(session)
        names = {
            (
                inspector if role is access.Role.INSPECTOR and inspector else f"{TOKEN_PREFIX}{role.value}"
            ): role
            for role in access.Role
        }
        for info in access.list_tokens(session):
            if (info.name in names or info.name.startswith(TOKEN_PREFIX)) and info.revoked_at is None:
                access.revoke_token(session, info.id)
                audit.append(session, actor=actor, role=access.Role.ADMIN.value, action="tokens.revoke",
                             target=f"token:{info.id}", source="cli", details={"name": info.name, "role": info.role})  # fmt: skip
        for name, role in names.items():
            new = access.create_token(session, name=name, role=role, created_by=actor)
            audit.append(session, actor=actor, role=access.Role.ADMIN.value, action="tokens.create",
                         target=f"token:{new.info.id}", source="cli",
                         details={"name": name, "role": role.value, "prefix": new.info.prefix})  # fmt: skip
            opens = OPENS[role].format(ui=f"{base}/ui/login", base=base)
            issued.append({"role": role.value, "name": name, "token": new.token, "open": opens})
    return issued


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

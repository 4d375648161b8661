"""``creditwatch serve``: the API and the web pages in one uvicorn worker."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer

from serving.cli.state import State, open_session
from serving.settings import Settings


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the API with uvicorn — one worker per process (several lose TCP_NODELAY: docs/api.md)."""
    run_server(ctx.obj, host=host, port=port, log_level=log_level)


def server_config(settings: Settings, app: Any, *, host: str, port: int, log_level: str = "info") -> Any:
    """The uvicorn configuration of the server: one worker, and ``X-Forwarded-For`` believed only from the
    configured proxies (``CREDITWATCH_TRUSTED_PROXIES``; none by default). uvicorn would otherwise believe it
    from any local client, so anyone on the machine could pick the address the failed-login limiter counts
    and the audit log records."""
    import uvicorn

    proxies = ",".join(settings.trusted_proxies)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        log_level=log_level,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )


def run_server(state: State, *, host: str, port: int, log_level: str = "info") -> None:
    """What ``creditwatch serve`` runs (and ``creditwatch demo`` after its pipeline): the API and pages on
    ``host:port`` in one uvicorn worker, until Ctrl-C (SIGINT) or SIGTERM."""
    import uvicorn

    from serving.api.app import create_app

    with open_session(state):
        pass  # fail early, with a clear message, on a database that is not set up
    config = server_config(
        state.settings, create_app(state.settings), host=host, port=port, log_level=log_level
    )
    server = uvicorn.Server(config)
    # As uvicorn.run does: the server re-raises the Ctrl-C it shut down on; that is the normal way out here.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise state.fail(f"the server could not start on {host}:{port} (see the log above)")

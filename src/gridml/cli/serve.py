"""`gridml serve`: run the prediction service, manage its API keys, build its bento."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from gridml.cli.common import WorkspaceOption, user_errors, workspace

app = typer.Typer(
    help="Serve the registered models over HTTP (BentoML): demand forecasts, transformer risk, "
    "theft scores, readings ingest.",
)
SERVICE = "gridml.serving.service:GridML"
BENTOFILE = Path(__file__).resolve().parents[3] / "serving" / "bentofile.yaml"
KEYS_FILE = "api-keys.yaml"


def _tool(name: str) -> str:
    """An executable of this environment (bentoml next to the running Python)."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def service_env(
    ws_root: Path, config: Path | None, keys_file: Path | None, workers: int, threads: int
) -> dict[str, str]:
    """The environment `bentoml serve` runs the service with."""
    env = dict(os.environ, GRIDML_WORKSPACE=str(ws_root))
    env |= {"GRIDML_SERVING_WORKERS": str(workers), "GRIDML_SERVING_THREADS": str(threads)}
    if config is not None:
        env["GRIDML_SERVING_CONFIG"] = str(config.resolve())
    default_keys = ws_root / KEYS_FILE
    if keys_file is not None:
        env["GRIDML_API_KEYS_FILE"] = str(keys_file.resolve())
    elif "GRIDML_API_KEYS_FILE" not in env and default_keys.is_file():
        env["GRIDML_API_KEYS_FILE"] = str(default_keys)
    return env


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 3000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the models).")] = 1,
    threads: Annotated[int, typer.Option(help="Request threads per worker.")] = 8,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Serving config (default: experiments/serving.yaml)."),
    ] = None,
    keys_file: Annotated[
        Path | None,
        typer.Option(
            help="API keys file (default: $GRIDML_API_KEYS_FILE, else WORKSPACE/api-keys.yaml)."
        ),
    ] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Start the BentoML service on the workspace's models and online store (foreground).

    Models are loaded from the registry by alias (champion, else challenger) and reloaded when
    the alias moves. Callers send ids; features come from the Feast online store. Every
    prediction route needs an API key: create one with `gridml serve keys create`.
    """
    if ctx.invoked_subcommand is not None:
        return
    root = workspace(ws).root
    env = service_env(root, config, keys_file, workers, threads)
    if "GRIDML_API_KEYS_FILE" not in env and "GRIDML_API_KEYS" not in env:
        typer.secho(
            "warning: no API keys configured: every prediction call will get 401 "
            "(create one: gridml serve keys create --role reader)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    cmd = [_tool("bentoml"), "serve", SERVICE, "--host", host, "--port", str(port)]
    typer.echo(f"serving {root} on http://{host}:{port} (Swagger UI at /)")
    raise typer.Exit(subprocess.call(cmd, env=env))


keys = typer.Typer(help="API keys of the service (only their SHA-256 is stored).")
app.add_typer(keys, name="keys")


@keys.command("create")
def create(
    role: Annotated[
        list[str], typer.Option("--role", "-r", help="reader, ingest or admin (repeatable).")
    ],
    name: Annotated[str, typer.Option(help="Who or what holds the key.")] = "default",
    file: Annotated[
        Path | None, typer.Option(help="Keys file (default: WORKSPACE/api-keys.yaml).")
    ] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Create a key with the given roles; print it once (store it as a secret). A key of the
    same name is replaced (rotation)."""
    from gridml.serving.auth import create_key

    path = file or workspace(ws).root / KEYS_FILE
    with user_errors():
        key = create_key(path, name, role)
    typer.echo(key)
    typer.secho(f"added {name!r} ({', '.join(role)}) to {path}", err=True)


@app.command()
def build(
    version: Annotated[str | None, typer.Option(help="Bento version tag.")] = None,
) -> None:
    """Build a bento of the service: the gridml wheel into dist/, then `bentoml build` with
    serving/bentofile.yaml (the pinned stack and the wheel; no workspace, no keys)."""
    root = BENTOFILE.parents[1]
    wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", "dist", "."]
    if subprocess.call(wheel, cwd=root) != 0:
        raise typer.Exit(1)
    cmd = [_tool("bentoml"), "build", "-f", str(BENTOFILE), "-o", "tag", str(root)]
    if version:
        cmd += ["--version", version]
    raise typer.Exit(subprocess.call(cmd, cwd=root))


@app.command()
def examples(
    key: Annotated[str, typer.Option(help="API key to put in the calls.", envvar="GRIDML_API_KEY")],
    port: Annotated[int, typer.Option(help="Port the service listens on.")] = 3000,
    ws: WorkspaceOption = None,
) -> None:
    """Print example calls of every endpoint with ids of this workspace."""
    from gridml.features.store.lookup import topology

    with user_errors():
        topo = topology(workspace(ws))
    feeder, transformer, meter = (
        topo[c].sort_values().iat[0] for c in ("feeder_id", "transformer_id", "meter_id")
    )
    base = f"http://127.0.0.1:{port}"
    head = f"-H 'Authorization: Bearer {key}' -H 'content-type: application/json'"
    calls = [
        (
            "demand forecast, one feeder, day-ahead",
            "forecast/demand",
            f'{{"ids": ["{feeder}"], "level": "feeder", "horizon": 24}}',
        ),
        ("transformer failure risk", "maintenance/risk", f'{{"ids": ["{transformer}"]}}'),
        ("theft score", "theft/score", f'{{"ids": ["{meter}"]}}'),
    ]
    for title, path, body in calls:
        typer.echo(f"# {title}\ncurl -s -X POST {base}/{path} {head} -d '{body}'")
    typer.echo(
        f"# which model versions are served\ncurl -s {base}/models -H 'Authorization: Bearer {key}'"
    )
    typer.echo(f"# Swagger UI: {base}/   metrics: {base}/metrics")

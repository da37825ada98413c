"""`gridml serve`: run the prediction service, manage its API keys, build its bento."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
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
STOP_GRACE_S = 30.0  # how long a forwarded SIGTERM may take before the group is killed


def _tool(name: str) -> str:
    """An executable of this environment (bentoml next to the running Python)."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def service_env(
    ws_root: Path,
    config: Path | None,
    keys_file: Path | None,
    workers: int | None,
    threads: int | None,
) -> dict[str, str]:
    """The environment `bentoml serve` runs the service with: the process settings given here
    override `GRIDML_SERVING_*` of the environment (unset: the service's defaults)."""
    from gridml.serving.auth import KEYS_FILE_ENV
    from gridml.serving.auth import keys_file as resolve_keys_file

    env = dict(os.environ, GRIDML_WORKSPACE=str(ws_root))
    if workers is not None:
        env["GRIDML_SERVING_WORKERS"] = str(workers)
    if threads is not None:
        env["GRIDML_SERVING_THREADS"] = str(threads)
    if config is not None:
        env["GRIDML_SERVING_CONFIG"] = str(config.resolve())
    if keys_file is not None:
        env[KEYS_FILE_ENV] = str(keys_file.resolve())
    elif KEYS_FILE_ENV in env or (ws_root / "api-keys.yaml").is_file():
        env[KEYS_FILE_ENV] = str(resolve_keys_file(env, ws_root))
    return env


def run_forwarding_signals(cmd: list[str], env: dict[str, str]) -> int:
    """Run `cmd` in its own process group; SIGTERM and SIGINT sent to this process are passed
    to the whole group (BentoML's arbiter and its workers), then waited for (killed after
    STOP_GRACE_S). Returns the exit code."""
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_group(proc.pid)


def stop_group(pgid: int, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to what is left of a process group, SIGKILL after `grace_s`."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _group_alive(pgid):
        time.sleep(0.1)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.", min=1, max=65535)] = 3000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes, each loading the models (default: $GRIDML_SERVING_WORKERS, "
            "else one per core).",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="Request threads per worker (default: $GRIDML_SERVING_THREADS, else 8)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Serving config (default: experiments/serving.yaml)."),
    ] = None,
    keys_file: Annotated[
        Path | None,
        typer.Option(
            help="API keys file (default: $GRIDML_API_KEYS_FILE, else WORKSPACE/api-keys.yaml); "
            "re-read when it changes"
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
    from gridml.serving.auth import KEYS_FILE_ENV, LiveKeys

    root = workspace(ws).root
    env = service_env(root, config, keys_file, workers, threads)
    with user_errors():
        LiveKeys.from_env(env)  # refuse to start on a missing or broken keys file
    if KEYS_FILE_ENV not in env and "GRIDML_API_KEYS" not in env:
        typer.secho(
            "warning: no API keys configured: every prediction call will get 401 "
            "(create one: gridml serve keys create --role reader)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    cmd = [_tool("bentoml"), "serve", SERVICE, "--host", host, "--port", str(port)]
    typer.echo(f"serving {root} on http://{host}:{port} (Swagger UI at /)")
    raise typer.Exit(run_forwarding_signals(cmd, env))


keys = typer.Typer(help="API keys of the service (only their SHA-256 is stored).")
app.add_typer(keys, name="keys")


@keys.command("create")
def create(
    role: Annotated[
        list[str], typer.Option("--role", "-r", help="reader, ingest or admin (repeatable).")
    ],
    name: Annotated[str, typer.Option(help="Who or what holds the key.")] = "default",
    file: Annotated[
        Path | None,
        typer.Option(
            help="Keys file (default: $GRIDML_API_KEYS_FILE, else WORKSPACE/api-keys.yaml: the "
            "file `gridml serve` reads)."
        ),
    ] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Create a key with the given roles; print it once (store it as a secret). A key of the
    same name is replaced (rotation)."""
    from gridml.serving.auth import create_key, keys_file

    path = file or keys_file(os.environ, workspace(ws).root)
    assert path is not None  # keys_file is None only without a workspace root
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
    port: Annotated[
        int, typer.Option(help="Port the service listens on.", min=1, max=65535)
    ] = 3000,
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

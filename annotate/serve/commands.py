"""The command-line side of the ML backend: `annotate serve`, `annotate studio connect`, and
the `--serve` part of `annotate studio start` / `stop` (registered by `annotate.cli`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

PROJECT = os.environ.get("ANNOTATE_PROJECT", "Propaganda and framing")  # as annotate.cli
AUTH_ENV = "ANNOTATE_SERVE_AUTH"


def serve(
    model: Annotated[Path, typer.Option(help="Trained model directory to serve.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9090,
    base: Annotated[
        list[Path] | None,
        typer.Option(help="Corpus directory trained on beside the project (repeatable)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Training config for retraining (default: models/default.toml)."),
    ] = None,
    retrain_every: Annotated[
        int, typer.Option(min=1, help="Retrain after this many submitted annotations.")
    ] = 20,
    keep: Annotated[int, typer.Option(min=1, help="Retrained model directories kept.")] = 3,
    models_dir: Annotated[
        Path | None, typer.Option(help="Where retrained models go (default: MODEL-retrained/).")
    ] = None,
    basic_auth: Annotated[
        str | None,
        typer.Option(
            help=f"USER:PASSWORD required from callers (better: env {AUTH_ENV}, which other "
            "users cannot read in the process list)."
        ),
    ] = None,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body accepted (MB).")] = 64,
) -> None:
    """Serve the model as a Label Studio ML backend (predictions, interactive, retraining)."""
    from annotate.serve import app as serving

    serving.run(
        model,
        host=host,
        port=port,
        base=base or [],
        config=config,
        retrain_every=retrain_every,
        keep=keep,
        models_dir=models_dir,
        basic_auth=basic_auth or os.environ.get(AUTH_ENV) or None,
        max_body=int(max_body_mb * 1024 * 1024),
    )


def studio_connect(
    url: Annotated[str, typer.Argument(help="Where `annotate serve` answers (http://HOST:PORT).")],
    project: Annotated[str, typer.Option("--project", help="Label Studio project title.")] = (
        PROJECT
    ),
    interactive: Annotated[
        bool, typer.Option(help="Suggest other occurrences of what an annotator marks.")
    ] = True,
    title: Annotated[str, typer.Option(help="The backend's name in Label Studio.")] = "annotate",
) -> None:
    """Register a running `annotate serve` with the project (Settings -> Model), idempotently.

    The backend's basic auth, if any, is read from env ANNOTATE_SERVE_AUTH (USER:PASSWORD)."""
    from annotate.serve.app import parse_basic_auth
    from annotate.studio import connect

    auth = parse_basic_auth(os.environ.get(AUTH_ENV))
    result = connect.connect_backend(
        url, project=project, title=title, interactive=interactive, basic_auth=auth
    )
    typer.echo(connect.describe(result))


def register(app: typer.Typer, studio_app: typer.Typer) -> None:
    app.command("serve")(serve)
    studio_app.command("connect")(studio_connect)


def start_and_connect(model: Path, data_dir: Path, port: int, project: str) -> str:
    """`annotate studio start --serve MODEL`: the backend beside the local server, connected."""
    from annotate.serve.app import parse_basic_auth
    from annotate.studio import connect

    os.environ["ANNOTATE_STUDIO_DIR"] = str(data_dir)  # where connect and the pulls look
    auth = parse_basic_auth(os.environ.get(AUTH_ENV))
    backend = connect.start_backend(model, data_dir=data_dir, port=port, basic_auth=auth)
    return connect.describe(
        connect.connect_backend(backend["url"], project=project, basic_auth=auth)
    )


def stop_studio(data_dir: Path | None) -> str:
    """`annotate studio stop`: the --serve backend (if one runs), then the server (None: the
    default data dir's, or nothing but a message when LABEL_STUDIO_URL names a team server)."""
    from annotate.studio import connect, server
    from annotate.studio.api import data_dir_path

    stopped = connect.stop_backend(data_dir_path(data_dir))
    return "\n".join(filter(None, (stopped, server.stop(data_dir=data_dir))))

"""The `annotate` command line: thin commands that parse options and call one library function.

Every command's work lives in a module you can call from Python (named in each docstring).
`BadInput` becomes one line on stderr and exit status 2; no tracebacks for user errors.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from annotate.errors import BadInput, StudioError
from annotate.serve import commands as serve_commands
from annotate.studio.project import DEFAULT_TITLE as DEFAULT_PROJECT

app = typer.Typer(
    help="Annotate and detect propaganda, repeated passages and framing in news text.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
studio_app = typer.Typer(help="Run the local Label Studio server.", no_args_is_help=True)
import_app = typer.Typer(
    help="Convert public corpora into a corpus directory.", no_args_is_help=True
)
app.add_typer(studio_app, name="studio")
app.add_typer(import_app, name="import")
serve_commands.register(app, studio_app)  # annotate serve, annotate studio connect

err = Console(stderr=True, soft_wrap=True)  # one message per line, never cut mid-path
out = Console()

Paths = Annotated[
    list[str], typer.Argument(help="Files or folders (.txt .jsonl .json .csv .parquet)")
]
ProjectOpt = Annotated[str, typer.Option("--project", help="Label Studio project title.")]
DataDir = Annotated[Path, typer.Option("--data-dir", help="Where the local server keeps its data.")]
STUDIO_DIR = Path(os.environ.get("ANNOTATE_STUDIO_DIR", ".studio"))  # also where push/pull look


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say more.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_time=False, show_path=False)],
    )


# ---- studio ----------------------------------------------------------------------------


@studio_app.command("start")
def studio_start(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    data_dir: DataDir = STUDIO_DIR,
    project: ProjectOpt = DEFAULT_PROJECT,
    overlap: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Annotators per task (for agreement); default: keep the project's (new: 1).",
        ),
    ] = None,
    serve: Annotated[Path | None, typer.Option(help="Also serve this model, connected.")] = None,
    serve_port: Annotated[int, typer.Option(help="Port of the --serve backend.")] = 9090,
) -> None:
    """Start Label Studio (SQLite in DATA_DIR) and create or update the project."""
    from annotate.studio import server

    info = server.start(host=host, port=port, data_dir=data_dir, project=project, overlap=overlap)
    out.print(server.describe(info), soft_wrap=True)
    if serve is not None:
        out.print(serve_commands.start_and_connect(serve, data_dir, serve_port, project))


@studio_app.command("stop")
def studio_stop(data_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Stop the server DATA_DIR records (even with LABEL_STUDIO_URL set) and its --serve backend."""
    out.print(serve_commands.stop_studio(data_dir), soft_wrap=True)


@studio_app.command("status")
def studio_status(data_dir: DataDir = STUDIO_DIR) -> None:
    """Is the server up, where, and who can log in."""
    from annotate.studio import server

    out.print(server.describe(server.status(data_dir=data_dir)), soft_wrap=True)


@studio_app.command("add-user")
def studio_add_user(
    email: Annotated[str, typer.Argument(help="The annotator's e-mail (their login name).")],
    password: Annotated[
        bool,
        typer.Option(
            "--password",
            help="Create the account now: asks for a password (or reads a line from stdin; "
            "empty = generate one). Without it, print an invite link instead.",
        ),
    ] = False,
    data_dir: DataDir = STUDIO_DIR,
) -> None:
    """Give an annotator an account on the server (invite link, or account with a password)."""
    import secrets

    from annotate.studio import accounts

    os.environ["ANNOTATE_STUDIO_DIR"] = str(data_dir)
    secret = None
    generated = False
    if password:
        if sys.stdin.isatty():
            secret = typer.prompt(
                "Password (empty: generate one)",
                default="",
                hide_input=True,
                show_default=False,
            )
        else:
            secret = sys.stdin.readline().rstrip("\n")
        if not secret:
            secret, generated = secrets.token_urlsafe(12), True
    result = accounts.add_user(email, secret)
    if not result["created"]:
        out.print(f"Send {email} this sign-up link (anyone who has it can join):", soft_wrap=True)
        out.print(result["invite_url"], soft_wrap=True, highlight=False)
        return
    login = f"{result['url']}/user/login/"
    out.print(f"created {email} on {result['url']}; they log in at {login}", soft_wrap=True)
    if generated:
        out.print(f"generated password (shown once; pass it on privately): {secret}")


# ---- Label Studio round trip ------------------------------------------------------------


@app.command()
def push(
    paths: Paths,
    project: ProjectOpt = DEFAULT_PROJECT,
    model: Annotated[
        Path | None, typer.Option(help="Trained model: add its pre-annotations.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Tasks per request.")] = 500,
    select: Annotated[
        int | None,
        typer.Option(
            help="With --model: push only the N documents the model is least sure of "
            "(most undecided tokens, and frames), near-copies skipped."
        ),
    ] = None,
) -> None:
    """Import documents as Label Studio tasks, with repeated-passage pre-annotations."""
    from annotate import roundtrip

    options = {"project": project, "model": model, "batch_size": batch_size, "select": select}
    out.print(roundtrip.push_summary(roundtrip.push_documents(paths, **options)), soft_wrap=True)


@app.command()
def pull(
    out_dir: Annotated[Path, typer.Option("--out", help="Corpus directory to write.")],
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Export every annotated task (all annotators) into a corpus."""
    from annotate.studio import pull as pulling

    out.print(pulling.pull_summary(pulling.pull_corpus(out_dir, project=project)), soft_wrap=True)


@app.command()
def review(
    project: ProjectOpt = DEFAULT_PROJECT,
    top: Annotated[int, typer.Option(help="How many of the most disputed documents.")] = 20,
) -> None:
    """Show a reviewer the documents where annotators disagree most, every version side by side."""
    from annotate import roundtrip

    out.print(roundtrip.review_table(roundtrip.review(project, top=top)))


# ---- import ----------------------------------------------------------------------------


@import_app.command("ptc")
def import_ptc(
    articles_dir: Annotated[Path, typer.Argument(help="Folder of article<ID>.txt")],
    labels: Annotated[Path, typer.Argument(help="Technique-labels file or folder of them")],
    out_dir: Annotated[Path, typer.Option("--out", help="Corpus directory to write.")],
    label_map: Annotated[Path | None, typer.Option(help="TSV: their label, our label.")] = None,
) -> None:
    """Import the Propaganda Techniques Corpus (SemEval-2020 Task 11)."""
    from annotate.formats import ptc

    out.print(ptc.import_ptc(articles_dir, labels, out_dir, label_map=label_map))


@import_app.command("semeval2023")
def import_semeval2023(
    articles_dir: Annotated[Path, typer.Argument(help="Folder of article<ID>.txt")],
    out_dir: Annotated[Path, typer.Option("--out", help="Corpus directory to write.")],
    frames: Annotated[Path | None, typer.Option(help="File of id<TAB>Frame1,Frame2")] = None,
    spans: Annotated[Path | None, typer.Option(help="Folder of technique-label files")] = None,
    label_map: Annotated[Path | None, typer.Option(help="TSV: their label, our label.")] = None,
) -> None:
    """Import SemEval-2023 Task 3 articles with frames and/or spans."""
    from annotate.formats import semeval2023

    out.print(
        semeval2023.import_semeval2023(
            articles_dir, out_dir, frames=frames, spans=spans, label_map=label_map
        )
    )


@import_app.command("babe")
def import_babe(
    csv_file: Annotated[Path, typer.Argument(help="BABE SG1/SG2 CSV (`;`-separated)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Corpus directory to write.")],
) -> None:
    """Import BABE: one document per sentence, Loaded_Language spans at its biased words."""
    from annotate.formats import babe

    info = babe.import_babe(csv_file, out_dir)
    counts, stats = info["counts"], info["stats"]
    line = f"{out_dir}: {counts['documents']} documents, {counts['spans']} Loaded_Language spans"
    if stats["not_annotated"]:
        line += f"; {stats['not_annotated']} sentences without word labels (not annotated)"
    if stats["unmatched_words"]:
        line += f"; {stats['unmatched_words']} listed words not found in their sentence"
    out.print(line)


# ---- learn -----------------------------------------------------------------------------


@app.command()
def train(
    corpora: Annotated[list[Path], typer.Argument(help="Corpus directories")],
    out_dir: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    config: Annotated[Path, typer.Option(help="Model configuration.")] = Path(
        "models/default.toml"
    ),
    lexicon: Annotated[
        list[Path] | None, typer.Option(help="Word list(s) for lexicon features.")
    ] = None,
    policy: Annotated[
        str, typer.Option(help="Annotator merge: majority|union|annotator:NAME")
    ] = "majority",
) -> None:
    """Train the span tagger, technique classifier, frame classifier and document score."""
    from annotate.learn import train as training

    out.print(
        training.train(corpora, out_dir, config=config, lexicons=lexicon or [], policy=policy)
    )


@app.command()
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="Trained model directory")],
    corpus_dir: Annotated[Path, typer.Argument(help="Corpus directory with gold labels")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write metrics as JSON.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report.")] = None,
    policy: Annotated[
        str, typer.Option(help="Annotator merge: majority|union|annotator:NAME")
    ] = "majority",
) -> None:
    """Measure a model on a corpus (SemEval-2020 span measures, frame F1)."""
    from annotate import evaluate as evaluation

    metrics = evaluation.evaluate(
        model_dir, corpus_dir, policy=policy, json_out=json_out, report=report
    )
    out.print(evaluation.metrics_table(metrics))


@app.command()
def score(
    paths: Paths,
    model: Annotated[Path | None, typer.Option(help="Trained model directory.")] = None,
    out_file: Annotated[
        str | None, typer.Option("--out", help="FILE.jsonl|.parquet|.csv; stdout when absent.")
    ] = None,
    engine: Annotated[str, typer.Option(help="local or dask")] = "local",
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: cores).")] = None,
    push_: Annotated[bool, typer.Option("--push", help="Send scores to Label Studio.")] = False,
    project: ProjectOpt = DEFAULT_PROJECT,
    batch_size: Annotated[int, typer.Option(help="Documents per batch sent to a worker.")] = 256,
) -> None:
    """Score documents: repeated passages, and with --model propaganda spans and frames."""
    summary = run_score(
        paths,
        model=model,
        out=out_file,
        engine=engine,
        scheduler=scheduler,
        workers=workers,
        push=push_,
        project=project,
        batch_size=batch_size,
    )
    if out_file:
        err.print(summary)


def run_score(
    paths: Sequence[str | Path],
    *,
    model: Path | Any = None,
    out: str | Path | None = None,
    push: bool = False,
    project: str = DEFAULT_PROJECT,
    **options: Any,
) -> str:
    """`annotate score`: records -> writer (`annotate.scoring.score`) -> with `push`, Label
    Studio (the records as they are written); `options`: engine, scheduler, workers,
    batch_size. Returns the summary line."""
    from annotate import scoring
    from annotate.learn import load_model

    loaded = load_model(model)
    send_to = None
    if push:
        from annotate.studio.tasks import push_score_records

        version = scoring.model_version(loaded)
        send_to = functools.partial(push_score_records, project=project, model_version=version)
    summary = scoring.score(paths, loaded, out, send_to=send_to, **options)
    line = (
        f"scored {summary['documents']} documents in {summary['seconds']:.1f} s "
        f"({summary['docs_per_second']:,.0f} docs/s): {summary['repeats']} repeated-passage "
        f"spans in {summary['docs_with_repeats']} documents"
    )
    if "model_spans" in summary:
        line += f", {summary['model_spans']} model spans"
    if push:
        sent = summary["sent"]
        line += (
            f"; Label Studio: pushed {sent.get('pushed', 0)}, {sent.get('already', 0)} already "
            f"there, {sent.get('missing', 0)} without a task"
        )
    return line + (f" -> {out}" if out else "")


@app.command()
def report(
    paths: Annotated[
        list[str], typer.Argument(help="Score files or folders (.jsonl .parquet .csv; - = stdin)")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="The HTML page to write.")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the summary as JSON.")
    ] = None,
    text: Annotated[
        list[str] | None,
        typer.Option(help="The scored documents (as given to score): top documents in context."),
    ] = None,
    threshold: Annotated[float, typer.Option(help="Document score counted as propaganda.")] = 0.5,
    top: Annotated[int, typer.Option(help="Most propagandistic documents to show.")] = 20,
) -> None:
    """One self-contained HTML page over score records: techniques, outlets, time, passages."""
    from annotate import collection, html, scores, ui

    records = collection.with_progress(scores.iter_score_records(paths))
    summary = collection.summarize(records, threshold=threshold, top=top)
    if text:
        collection.attach_texts(summary, text)
    html.write_page(out_file, collection.render_html(summary))
    if json_out:
        ui.write_json(json_out, summary, indent=1)
    err.print(f"{out_file}: {collection.describe(summary)}", highlight=False)


@app.command()
def agreement(
    corpus_dir: Annotated[Path, typer.Argument(help="Corpus directory")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write agreement as JSON.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report.")] = None,
) -> None:
    """Inter-annotator agreement: Krippendorff's alpha for frames, pairwise span F1."""
    from annotate import agreement as agree

    result = agree.agreement(corpus_dir, json_out=json_out, report=report)
    out.print(agree.agreement_table(result))


@app.command()
def audit(
    corpus_dir: Annotated[Path, typer.Argument(help="Corpus directory")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the ranking as JSON.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report (top N).")] = None,
    top: Annotated[int, typer.Option(help="Rows to show per table.")] = 20,
    folds: Annotated[int, typer.Option(help="Cross-validation folds (grouped by document).")] = 5,
    policy: Annotated[
        str, typer.Option(help="Annotator merge: majority|union|annotator:NAME")
    ] = "majority",
) -> None:
    """Suspicious labels: spans and frames that cross-validated predictions contradict."""
    from annotate import audit as auditing

    result = auditing.audit(
        corpus_dir, policy=policy, folds=folds, json_out=json_out, report=report, top=max(top, 50)
    )
    for table in auditing.audit_tables(result, top=top):
        out.print(table)


def _terminate(signum, frame) -> None:
    # SystemExit unwinds like Ctrl+C: atomic outputs remove their temporary files.
    sys.exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except BadInput as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(2)
    except StudioError as exc:
        err.print(f"[bold red]Label Studio:[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted; nothing half-written was kept")
        sys.exit(130)
    except Exception as exc:  # a bug or an environment fault: one line, traceback with -v
        if logging.getLogger("annotate").isEnabledFor(logging.INFO):
            raise
        err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc} (run with -v for details)")
        sys.exit(1)

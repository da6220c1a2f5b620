"""The Label Studio round trip composed from its parts, and its results in words: `annotate.studio`
talks to the server and knows no model; this module scores (and chooses) documents for it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from annotate.disagreement import rank_disagreements
from annotate.documents import Document, iter_documents
from annotate.errors import BadInput
from annotate.learn import load_model
from annotate.schema import load_schema
from annotate.scoring import model_version, score_records
from annotate.studio import review as studio_review
from annotate.studio import tasks
from annotate.studio.api import connect
from annotate.studio.project import DEFAULT_TITLE, open_project, set_sampling


def push_documents(
    paths: Iterable[str | Path],
    *,
    project: str = DEFAULT_TITLE,
    model: str | Path | Any = None,
    batch_size: int = 500,
    select: int | None = None,
) -> dict[str, Any]:
    """Import documents as tasks with pre-annotations; documents already there are left alone.

    Every new task carries one prediction: the repeated-passage detector's spans (repeats are
    found among all documents of the run, new or not) and with `model` the model's spans and
    frames. Documents stream from `paths` (read again beside the score records, so the run is
    never held in memory). With `select` (and a model), only the `select` documents of the
    pool the model is least sure about are pushed (`annotate.active.select_documents`),
    their prediction scores set to 1 - uncertainty, and the project switched to Label
    Studio's uncertainty sampling.

    Returns `push_tasks`'s summary with `project` (and `selected` with `select`).
    """
    if batch_size < 1:
        raise BadInput("--batch-size must be at least 1")
    paths = list(paths)
    schema = load_schema()
    loaded = load_model(model)
    if select is not None and loaded is None:
        raise BadInput("--select needs --model: uncertainty comes from a trained model")
    version = model_version(loaded)
    ids = [d.id for d in iter_documents(paths)]  # bad input fails here, before anything is sent

    api, _ = connect()
    proj = open_project(api, project, schema, create=True)
    state = tasks.snapshot(api, proj["id"])
    existing = state[1]
    scores: dict[str, float] = {}
    if select is not None:  # choose among the documents not yet in the project
        from annotate.active import select_documents

        pool = [d for d in iter_documents(paths) if d.id not in existing]
        chosen, scores = select_documents(pool, loaded, select)
        new = len(chosen)

        def documents() -> Iterator[Document]:
            return iter(chosen)
    else:
        new = sum(1 for i in ids if i not in existing)

        def documents() -> Iterator[Document]:
            return iter_documents(paths)

    del ids
    if new:
        pairs: Iterable = zip(documents(), score_records(documents(), loaded), strict=True)
    else:  # every document is there already: nothing to score
        pairs = ((d, {"id": d.id}) for d in documents())
    summary = tasks.push_tasks(
        api,
        proj["id"],
        pairs,
        schema,
        model_version=version,
        batch_size=batch_size,
        scores=scores,
        state=state,
        total=new,
    )
    if select is not None:
        # Label Studio serves the lowest-scored predictions of project.model_version first
        from annotate.active import UNCERTAINTY_SAMPLING

        set_sampling(api, proj["id"], UNCERTAINTY_SAMPLING, version)
        summary["selected"] = len(chosen)
    return {"project": project, **summary}


def review(project: str = DEFAULT_TITLE, *, top: int = 20) -> dict[str, Any]:
    """Rank the project's documents by annotator disagreement and set up the top ones for review.

    Returns {project, project_id, documents (annotated), with_two_or_more_annotators,
    for_review, predictions, cleared, view, url}."""
    if top < 1:
        raise BadInput("--top must be at least 1")
    schema = load_schema()
    api, _ = connect()
    proj = open_project(api, project, schema)
    by_doc, rows = studio_review.annotated_rows(api, proj["id"], schema)
    chosen = [d for d in rank_disagreements(rows) if d["disagreement"] > 0][:top]
    result = studio_review.set_up_review(api, proj["id"], chosen, rows, by_doc, schema)
    return {
        "project": project,
        "documents": len(by_doc),
        "with_two_or_more_annotators": len(rows),
        **result,
    }


# ---- the results in words, for the command line ----------------------------------------------


def push_summary(s: dict[str, Any]) -> str:
    """`push_documents`'s result in a sentence."""
    removed = s.get("duplicates_removed")
    return (
        f"project {s['project']!r}: {s['new']} new task(s), {s['already']} already there "
        f"({s['documents']} document(s) read); {s['predictions']} pre-annotation(s) "
        f"({s['model_version']}). Open {s['url']}"
    ) + (f" ({removed} duplicate task(s) of a concurrent push removed)" if removed else "")


def review_table(result: dict[str, Any]) -> Any:
    """A rich table of the documents set up for review."""
    from rich.table import Table

    table = Table(
        title=(
            f"{len(result['for_review'])} document(s) for review in {result['project']!r} "
            f"({result['with_two_or_more_annotators']} with two or more annotators). "
            f"Open the '{studio_review.VIEW_TITLE}' tab: {result['url']}"
        ),
        title_justify="left",
    )
    for column in ("rank", "doc", "annotators", "spans", "frames", "disagreement"):
        table.add_column(column)

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for rank, d in enumerate(result["for_review"], 1):
        table.add_row(
            str(rank),
            d["doc_id"],
            ", ".join(d["annotators"]),
            fmt(d["spans"]),
            fmt(d["frames"]),
            fmt(d["disagreement"]),
        )
    return table

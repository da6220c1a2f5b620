"""What `/predict` answers: Label Studio tasks -> documents -> score records -> predictions.

Each task is scored on its own (the model's spans, frames, and the passages repeated within
the task: the same records as `annotate score`, CONTRACTS.md section 6), then converted by
`formats.labelstudio.prediction_from_record` and checked by `check_prediction` against the
project's label config, exactly as `annotate push --model` does.

Interactive pre-annotation: when the request carries `params.context.result` (regions an
annotator just drew), the answer is every other occurrence of the same words in the
document (case-insensitive, whole words, any punctuation or spacing between them, as words
are compared in CONTRACTS.md section 10), under the same label.

A request that is not what Label Studio sends raises `RequestError` (HTTP 400); a label
config the model was not trained for raises `ConfigMismatch` (HTTP 422). Both carry a
message meant for the person reading Label Studio's error panel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from annotate.documents import Document
from annotate.errors import BadInput
from annotate.formats.labelstudio import check_prediction, prediction_from_record
from annotate.schema import FRAME_CONTROL, SPAN_CONTROL, TEXT_OBJECT, Schema, schema_from_xml
from annotate.scoring import score_records

MAX_SUGGESTIONS = 500  # a marked "the" should not flood the screen
MODEL_BATCH = 32  # documents per model call in a many-task request


class RequestError(ValueError):
    """A request the backend cannot read (HTTP 400)."""

    status = 400


class ConfigMismatch(RequestError):
    """The project's label config is not the one the model was trained for (HTTP 422)."""

    status = 422


# ---- label config ------------------------------------------------------------------------------


def project_schema(label_config: Any, model_info: Mapping[str, Any], default: Schema) -> Schema:
    """The schema predictions are checked against: the project's config when Label Studio
    sends one (it always does), else the toolkit's own.

    The model must have been trained for it: the same sha256 as the config it was trained
    with, or else the same span labels and frames (a config that only restyles or reworded
    hints still fits). Anything else is refused with the labels that differ."""
    if label_config is None or label_config == "":
        return default
    if not isinstance(label_config, str):
        raise RequestError("'label_config' must be the project's label config as a string")
    try:
        schema = schema_from_xml(label_config, "the project's label config")
    except BadInput as exc:
        raise ConfigMismatch(f"cannot use the project's label config: {exc}") from None
    if schema.sha256 == model_info.get("label_config_sha256"):
        return schema
    problems = []
    for control, trained in ((SPAN_CONTROL, "techniques"), (FRAME_CONTROL, "frames")):
        have = set(schema.labels.get(control, ()))
        want = set(model_info.get(trained) or ())
        if have != want:
            missing, extra = sorted(want - have), sorted(have - want)
            parts = []
            if missing:
                parts.append(f"lacks {', '.join(missing[:5])}")
            if extra:
                parts.append(f"has labels the model never saw: {', '.join(extra[:5])}")
            problems.append(f"control {control!r} " + " and ".join(parts))
    if problems:
        raise ConfigMismatch(
            f"the model {model_info.get('model_version', '')} was not trained for this "
            f"project's label config ({'; '.join(problems)}): train a model for it with "
            "`annotate train` (label_config.xml = the project's config)"
        )
    return schema


# ---- tasks -------------------------------------------------------------------------------------


def task_document(task: Any, n: int) -> Document:
    """The document a task holds (`data.text`; id `data.doc_id`, else `task-<id>`)."""
    if not isinstance(task, dict):
        raise RequestError(f"tasks[{n}] is not an object")
    data = task.get("data")
    if not isinstance(data, dict):
        raise RequestError(f"tasks[{n}] has no 'data' object")
    text = data.get("text")
    if not isinstance(text, str):
        raise RequestError(f"tasks[{n}] (task {task.get('id')}) has no text in data.text")
    doc_id = data.get("doc_id") or f"task-{task.get('id', n)}"
    return Document(str(doc_id), text)


class _Predicted:
    """`Model.predict` run once for a whole batch of texts, then answered text by text."""

    def __init__(self, model: Any, texts: list[str]):
        self._by_text = dict(zip(texts, model.predict(texts), strict=True))

    def predict(self, texts: Iterable[str]) -> list[dict]:
        return [self._by_text[t] for t in texts]


def task_records(docs: Iterable[Document], model: Any) -> Iterator[dict]:
    """Score records, each document on its own: repeats within the task, not across the
    batch Label Studio happens to send. The model runs once per MODEL_BATCH documents (its
    fixed cost per call is a third of a 5 KB article's)."""
    docs = list(docs)
    for lo in range(0, len(docs), MODEL_BATCH):
        chunk = docs[lo : lo + MODEL_BATCH]
        batched = model
        if model is not None and len(chunk) > 1:
            batched = _Predicted(model, [d.text for d in chunk])
        for doc in chunk:
            yield from score_records([doc], batched)


def predictions(
    tasks: list[Any], model: Any, schema: Schema, model_version: str
) -> list[dict[str, Any]]:
    """One prediction ({result, score, model_version}) per task, in order."""
    docs = [task_document(t, n) for n, t in enumerate(tasks)]
    out = []
    for doc, record in zip(docs, task_records(docs, model), strict=True):
        pred = prediction_from_record(record, schema, model_version, text=doc.text)
        check_prediction(pred, schema, doc.id)
        out.append(pred)
    return out


# ---- interactive -------------------------------------------------------------------------------


def _marked_words(text: str, value: Mapping[str, Any]) -> tuple[int, int, list[str]] | None:
    """(start, end, words) of a drawn span region, or None if it is not one."""
    start, end = value.get("start"), value.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
        return None
    marked = text[start:end]
    shown = value.get("text")
    if isinstance(shown, str) and shown and marked != shown:
        marked = shown  # offsets counted another way (UTF-16): the words still tell
    words = re.findall(r"\w+", marked)
    return (start, end, words) if words else None


def occurrence_suggestions(text: str, context: Any, schema: Schema) -> list[dict[str, Any]]:
    """Regions for every other occurrence of the words of each span region in
    `context.result`, under the same label(s)."""
    results = context.get("result") if isinstance(context, dict) else None
    if not isinstance(results, list):
        raise RequestError("params.context.result must be a list of regions")
    out: list[dict[str, Any]] = []
    taken: set[tuple[int, int]] = set()
    for res in results:
        if not isinstance(res, dict) or res.get("from_name") != SPAN_CONTROL:
            continue
        if res.get("origin") == "prediction":
            continue  # Label Studio sends the model's own regions of that label along
        value = res.get("value")
        if not isinstance(value, dict):
            continue
        labels = value.get("labels")
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(x, str) for x in labels)
        ):
            continue
        marked = _marked_words(text, value)
        if marked is None:
            continue
        start, end, words = marked
        taken.add((start, end))
        pattern = re.compile(
            r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)", re.IGNORECASE
        )
        for m in pattern.finditer(text):
            a, b = m.start(), m.end()
            if a < end and b > start or (a, b) in taken:
                continue  # the marked passage itself, or already suggested
            taken.add((a, b))
            out.append(
                {
                    "id": f"occ{len(out) + 1}",
                    "from_name": SPAN_CONTROL,
                    "to_name": res.get("to_name") or TEXT_OBJECT,
                    "type": "labels",
                    "value": {"start": a, "end": b, "text": text[a:b], "labels": list(labels)},
                }
            )
            if len(out) >= MAX_SUGGESTIONS:
                return out
    return out


def interactive(task: Any, context: Any, schema: Schema, model_version: str) -> dict[str, Any]:
    """The one result Label Studio expects for an interactive request."""
    doc = task_document(task, 0)
    result = occurrence_suggestions(doc.text, context, schema)
    pred = {"model_version": model_version, "score": 1.0, "result": result}
    check_prediction(pred, schema, doc.id)
    return pred


# ---- the request -------------------------------------------------------------------------------


def answer(
    body: Any, model: Any, model_info: Mapping[str, Any], default_schema: Schema
) -> dict[str, Any]:
    """The whole `/predict` exchange: request body -> {"results": [...]}, one per task."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object with 'tasks'")
    tasks = body.get("tasks")
    if not isinstance(tasks, list):
        raise RequestError("'tasks' must be a list of Label Studio tasks")
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise RequestError("'params' must be an object")
    schema = project_schema(body.get("label_config"), model_info, default_schema)
    version = str(model_info.get("model_version", ""))
    context = params.get("context")
    if context:
        if len(tasks) != 1:
            raise RequestError("an interactive request (params.context) takes exactly one task")
        return {"results": [interactive(tasks[0], context, schema, version)]}
    try:
        return {"results": predictions(tasks, model, schema, version)}
    except BadInput as exc:  # a prediction that does not fit the config: say which
        raise ConfigMismatch(str(exc)) from None

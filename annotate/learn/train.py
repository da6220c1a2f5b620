"""`annotate train`: fit every model component on one or several corpora and save the bundle.

A component learns from the documents annotated for its control (`technique` -> spans,
`frame` -> frames), so spans may come from one corpus and frames from another. Decision
thresholds (span tagger, frames) are chosen on out-of-fold predictions of a cross-validation
grouped by document; the same predictions give the CV figures written into model.json.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from annotate.atomic import atomic_path
from annotate.corpus import Merged, corpus_sha256, merge, read_corpus
from annotate.errors import BadInput
from annotate.learn.features import load_lexicons
from annotate.learn.fit_labels import fit_frames, fit_technique, technique_params
from annotate.learn.fit_spans import fit_tagger
from annotate.learn.frames import PropagandaScorer
from annotate.learn.model import Model, versions
from annotate.resources import default_model_config
from annotate.schema import FRAME_CONTROL, SPAN_CONTROL, Schema, load_schema

DEFAULT_CONFIG = default_model_config()  # shipped: the repository's, or the wheel's copy


def load_config(path: str | Path | None) -> dict[str, Any]:
    path = Path(path) if path else DEFAULT_CONFIG
    if (
        not path.is_file()
        and not path.is_absolute()
        and DEFAULT_CONFIG.parent.joinpath(path.name).is_file()
    ):
        path = DEFAULT_CONFIG.parent / path.name
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput("model config not found", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"not valid TOML ({exc})", path) from None


def load_documents(
    corpora: Sequence[str | Path], policy: str, schema: Schema
) -> tuple[list[Merged], list[dict]]:
    """Merged documents of all corpora, and per-corpus provenance for model.json."""
    docs: list[Merged] = []
    provenance = []
    for path in corpora:
        dataset = read_corpus(path)
        n_span = n_frame = n_kept = 0
        labels: set[str] = set()
        for r in dataset:
            m = merge(r, policy, frame_control=FRAME_CONTROL)
            if m is None:
                continue
            for s in m.spans:
                if s["label"] not in schema.techniques:
                    raise BadInput(
                        f"span label {s['label']!r} is not in the label config",
                        path,
                        f"document {m.id!r}",
                    )
            n_span += SPAN_CONTROL in m.annotated
            n_frame += FRAME_CONTROL in m.annotated
            n_kept += 1
            labels.update(s["label"] for s in m.spans)
            docs.append(m)
        provenance.append(
            {
                "path": str(path),
                "sha256": corpus_sha256(path),
                "documents": len(dataset),
                "span_documents": n_span,
                "frame_documents": n_frame,
                "merged_documents": n_kept,  # after the merge policy, in order in `docs`
                "techniques": sorted(labels),
            }
        )
    return docs, provenance


def technique_documents(provenance: Sequence[dict]) -> list[bool]:
    """Which of the documents (in `load_documents` order) teach the technique classifier: those of corpora whose spans carry
    more than one technique, when there are such corpora. A corpus of one technique (BABE:
    Loaded_Language only) trains the span tagger, but would teach the technique classifier
    that technique's prior, not how techniques differ."""
    keep = [len(p["techniques"]) > 1 for p in provenance]
    if not any(keep):
        keep = [True] * len(provenance)
    return [k for k, p in zip(keep, provenance, strict=True) for _ in range(p["merged_documents"])]


def train(
    corpora: Sequence[str | Path],
    out_dir: str | Path,
    *,
    config: str | Path | None = None,
    lexicons: Sequence[str | Path] = (),
    policy: str = "majority",
    progress: Callable[[str], None] | None = None,
) -> str:
    """Train all components on the corpora, write the model directory, return a summary."""
    from threadpoolctl import threadpool_limits

    # One BLAS thread: these problems are small, and threads fight on a shared machine.
    with threadpool_limits(limits=1):
        return _train(
            corpora, out_dir, config=config, lexicons=lexicons, policy=policy, progress=progress
        )


def _train(
    corpora: Sequence[str | Path],
    out_dir: str | Path,
    *,
    config: str | Path | None,
    lexicons: Sequence[str | Path],
    policy: str,
    progress: Callable[[str], None] | None,
) -> str:
    started = time.perf_counter()
    say = progress or _default_progress()
    if not corpora:
        raise BadInput("give at least one corpus directory")
    cfg = load_config(config)
    seed = int(cfg.get("seed", 0))
    jobs = int(cfg.get("jobs", 0)) or min(2, os.cpu_count() or 1)
    schema = load_schema()
    lexicon_words = load_lexicons(lexicons)
    docs, provenance = load_documents(corpora, policy, schema)
    span_docs = [d for d in docs if SPAN_CONTROL in d.annotated]
    teaches = [t for d, t in zip(docs, technique_documents(provenance), strict=True)
               if SPAN_CONTROL in d.annotated]  # fmt: skip
    frame_docs = [d for d in docs if FRAME_CONTROL in d.annotated]
    if not span_docs and not frame_docs:
        raise BadInput(
            "no document is annotated for techniques or frames", ", ".join(map(str, corpora))
        )
    info: dict[str, Any] = {
        "format_version": 1,
        "name": str(cfg.get("name", "model")),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "label_config_sha256": schema.sha256,
        "techniques": list(schema.techniques),
        "frames": list(schema.frames),
        "policy": policy,
        "config": cfg,
        "lexicons": sorted(lexicon_words),
        "corpora": provenance,
        "versions": versions(),
        "cv": {},
        "cv_note": (
            "out-of-fold predictions of a K-fold CV grouped by document; the span and frame "
            "thresholds were chosen on the same predictions, so these figures lean optimistic "
            "(bench/quality.py measures with the tuning nested inside each fold)"
        ),
    }
    components: dict[str, Any] = {}
    items, labels, groups = [], [], []
    for k, d in enumerate(span_docs):
        for s in d.spans if teaches[k] else ():
            items.append((d.text, s["start"], s["end"]))
            labels.append(s["label"])
            groups.append(k)
    # The technique and frame classifiers fit in a thread of their own, beside the span
    # tagger's: they need nothing from it, and its SGD solver leaves CPU time to spare.
    with ThreadPoolExecutor(1) as side:
        technique_job = (
            side.submit(
                fit_technique,
                items,
                labels,
                groups,
                cfg.get("technique", {}),
                schema.techniques,
                lexicon_words,
                say,
            )
            if items
            else None
        )
        frames_job = (
            side.submit(
                fit_frames,
                [d.text for d in frame_docs],
                [d.frames for d in frame_docs],
                cfg.get("frames", {}),
                schema.frames,
                seed,
                say,
            )
            if frame_docs
            else None
        )
        if span_docs:
            texts = [d.text for d in span_docs]
            gold = [[(s["start"], s["end"], s["label"]) for s in d.spans] for d in span_docs]
            tagger, cv, summaries = fit_tagger(
                texts,
                gold,
                cfg.get("tagger", {}),
                lexicon_words,
                seed,
                say,
                jobs,
                technique=(
                    technique_params(cfg.get("technique", {}), lexicon_words),
                    schema.techniques,
                ),
                technique_docs=teaches,
            )
            components["tagger"] = tagger
            info["tagger"] = {
                "threshold": tagger.threshold,
                "max_gap": tagger.max_gap,
                "sentence_weight": tagger.sentence_weight,
                "document_weight": tagger.document_weight,
                "within_sentences": tagger.within_sentences,
                "rules": tagger.rules,
            }
            info["cv"].update(cv)
            has_span = [int(bool(d.spans)) for d in span_docs]
            components["propaganda"] = PropagandaScorer(
                C=float(cfg.get("propaganda", {}).get("C", 1.0))
            ).fit(np.array(summaries), has_span)
        if technique_job is not None:
            components["technique"], tc = technique_job.result()
            if tc:
                info["cv"]["tc"] = tc
        if frames_job is not None:
            frames, cv, thresholds = frames_job.result()
            components["frames"] = frames
            info["frame_thresholds"] = thresholds
            if cv:
                info["cv"]["frames"] = cv
    info["training_seconds"] = round(time.perf_counter() - started, 1)
    model = Model(info, **components)
    with atomic_path(out_dir, directory=True) as tmp:
        model.save(tmp)
    return summary(model.info, out_dir, len(span_docs), len(frame_docs))


def summary(info: dict[str, Any], out_dir: str | Path, n_span: int, n_frame: int) -> str:
    lines = [
        f"trained {info['model_version']} -> {out_dir} in {info['training_seconds']} s",
        f"  span-annotated documents: {n_span}; frame-annotated documents: {n_frame}",
    ]
    cv = info.get("cv", {})
    if "si" in cv:
        si = cv["si"]
        lines.append(
            f"  CV span identification P {si['precision']:.3f} R {si['recall']:.3f} "
            f"F1 {si['f1']:.3f} (threshold {info['tagger']['threshold']}, "
            f"gap {info['tagger']['max_gap']}, sentence weight {info['tagger']['sentence_weight']})"
        )
    if "flc" in cv:
        flc = cv["flc"]
        lines.append(
            f"  CV labelled spans (FLC) P {flc['precision']:.3f} R {flc['recall']:.3f} "
            f"F1 {flc['f1']:.3f}, SI of those spans {cv['si_labelled']['f1']:.3f} "
            f"({len(info['tagger'].get('rules') or {})} techniques with a rule)"
        )
    if "sentences" in cv:
        lines.append(f"  CV sentence F1 {cv['sentences']['f1']:.3f}")
    if "tc" in cv:
        lines.append(
            f"  CV technique classification micro-F1 {cv['tc']['micro_f1']:.3f} "
            f"macro-F1 {cv['tc']['macro_f1']:.3f}"
        )
    if "frames" in cv:
        lines.append(
            f"  CV frames micro-F1 {cv['frames']['micro_f1']:.3f} "
            f"macro-F1 {cv['frames']['macro_f1']:.3f}"
        )
    return "\n".join(lines)


def _default_progress() -> Callable[[str], None]:
    if not sys.stderr.isatty():
        import logging

        log = logging.getLogger("annotate.train")
        return log.info
    from rich.console import Console

    console = Console(stderr=True)

    def say(message: str) -> None:
        console.print(f"[dim]{message}[/]", highlight=False)

    return say

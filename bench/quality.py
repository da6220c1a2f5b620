"""Model quality: 5-fold cross-validation grouped by article, beside a plain baseline.

    .venv/bin/python bench/quality.py [--folds 5] [--fold-seed 0] [--limit N] [--skip-baseline]
                                      [--skip-timing] [--lexicon FILE ...] [--out NAME]
                                      [--variants before,after,after-no-babe]

Variants, each trained on the same folds in the same run:
- `before`: the technique-blind span model (`labelled = false`, no technique groups): one
  SI-tuned decoding, each run labelled with its most probable technique;
- `after`: the shipped model (models/default.toml), trained on PTC + SemEval-2023 + BABE;
- `after-no-babe`: the shipped model without BABE, to show what BABE adds.
BABE (../shared/data/babe) is split into folds by sentence; a variant trained with BABE
sees its training sentences (and PTC's training articles). Every variant is measured on
BABE's test sentences: the words inside its Loaded_Language spans against the biased words.

`--lexicon` passes word lists to training exactly as `annotate train --lexicon` does (e.g.
`--lexicon-set shared` = every list under ../shared/data/lexicons plus BABE's bias words).

Corpora: ../shared/data/ptc (spans: SI, TC, sentence F1) and ../shared/data/semeval2023
(frames). Folds are drawn over article ids, so an article is never in training and test at
once, in either corpus. Each fold trains the real model (`annotate.learn.train.train`,
models/default.toml; inner CV for its thresholds) and scores it with `annotate.evaluate`,
the same code as `annotate evaluate`. The baseline, fitted on the same folds: token tagger =
TF-IDF of the 5-word window + logistic regression, threshold 0.5; TC = TF-IDF of the span
text + LR; frames = TF-IDF of the document + one-vs-rest LR at 0.5.
Also: time to train on both full corpora. Prints a table; writes bench/out/quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.multiclass import OneVsRestClassifier
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "bench" / "out"
sys.path.insert(0, str(REPO))

from annotate import metrics  # noqa: E402
from annotate.corpus import merge, write_corpus  # noqa: E402
from annotate.evaluate import evaluate, evaluate_model  # noqa: E402
from annotate.formats.babe import babe_rows  # noqa: E402
from annotate.formats.ptc import ptc_rows  # noqa: E402
from annotate.formats.semeval2023 import semeval2023_rows  # noqa: E402
from annotate.learn.features import tokens  # noqa: E402
from annotate.learn.rules import decode  # noqa: E402
from annotate.learn.train import load_config, train  # noqa: E402
from annotate.schema import load_schema  # noqa: E402

TARGETS = {"flc_f1": 0.25, "si_f1": 0.41, "tc_micro_f1": 0.59, "babe_f1": 0.35}
BABE_CSV = DATA / "babe" / "babe-sg2-train.csv"
LL = "Loaded_Language"
VARIANTS = {
    "before": {
        "tagger": {"labelled": False, "groups": [], "technique_sentences": False},
        "babe": False,
    },
    "after": {"tagger": {}, "babe": True},
    "after-no-babe": {"tagger": {}, "babe": False},
}


class Baseline:
    """Plain TF-IDF + logistic regression for spans, techniques and frames."""

    model_version = "baseline-tfidf-lr"

    def __init__(self, frames: tuple[str, ...]):
        self.frames = frames

    @staticmethod
    def _windows(text: str) -> tuple[list[tuple[int, int]], list[str]]:
        offs = tokens(text)
        words = [text[a:b].lower() for a, b in offs]
        pad = ["<s>", "<s>"] + words + ["</s>", "</s>"]
        return offs, [
            f"{pad[i]} {pad[i + 1]} C_{pad[i + 2]} {pad[i + 3]} {pad[i + 4]}"
            for i in range(len(words))
        ]

    def fit(self, span_docs, frame_docs) -> Baseline:
        windows, y = [], []
        items, labels = [], []
        for d in span_docs:
            offs, w = self._windows(d.text)
            windows += w
            hit = np.zeros(len(offs), dtype=int)
            for s in d.spans:
                for i, (a, b) in enumerate(offs):
                    if a < s["end"] and b > s["start"]:
                        hit[i] = 1
                items.append(s["text"])
                labels.append(s["label"])
            y += hit.tolist()
        self.win_vec = TfidfVectorizer(token_pattern=r"\S+", min_df=2, sublinear_tf=True)
        self.win_clf = LogisticRegression(solver="liblinear").fit(
            self.win_vec.fit_transform(windows), y
        )
        self.span_vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self.span_clf = LogisticRegression(max_iter=300).fit(
            self.span_vec.fit_transform(items), labels
        )
        self.doc_vec = TfidfVectorizer(sublinear_tf=True, min_df=2)
        Y = np.array([[f in d.frames for f in self.frames] for d in frame_docs], dtype=int)
        self.keep = [j for j in range(len(self.frames)) if 0 < Y[:, j].sum() < len(Y)]
        self.doc_clf = OneVsRestClassifier(LogisticRegression(solver="liblinear")).fit(
            self.doc_vec.fit_transform([d.text for d in frame_docs]), Y[:, self.keep]
        )
        return self

    def predict(self, texts: list[str]) -> list[dict]:
        out = []
        P = self.doc_clf.predict_proba(self.doc_vec.transform(texts)) if texts else []
        for text, p_frames in zip(texts, P, strict=True):
            offs, w = self._windows(text)
            p = self.win_clf.predict_proba(self.win_vec.transform(w))[:, 1] if w else np.zeros(0)
            spans = decode(offs, p, 0.5, 0)
            frames = dict.fromkeys(self.frames, 0.0)
            for j, pj in zip(self.keep, p_frames, strict=True):
                frames[self.frames[j]] = float(pj)
            out.append(
                {
                    "frames": frames,
                    "frame_labels": [f for f, v in frames.items() if v >= 0.5],
                    "spans": [
                        {"start": a, "end": b, "text": text[a:b], "label": "", "score": s}
                        for a, b, s in spans
                    ],
                }
            )
        return out

    def classify_spans(self, text: str, spans: list[tuple[int, int]]) -> list[str]:
        if not spans:
            return []
        return list(self.span_clf.predict(self.span_vec.transform([text[a:b] for a, b in spans])))


def load_rows(limit: int | None) -> tuple[list[dict], list[dict]]:
    ptc, _ = ptc_rows(DATA / "ptc" / "train-articles", DATA / "ptc" / "train-labels-task-tc")
    sem, _ = semeval2023_rows(
        DATA / "semeval2023" / "articles-subtask-1-2",
        frames=DATA / "semeval2023" / "train-labels-subtask-2.txt",
    )
    if limit:
        ptc, sem = ptc[:limit], sem[:limit]
    return ptc, sem


def article_folds(ptc: list[dict], sem: list[dict], k: int = 5, seed: int = 0) -> dict[str, int]:
    """The outer folds, shared by every bench script: article id -> the fold (0..k-1) that
    tests it. KFold over the ids of both corpora, so an article is never in training and test."""
    ids = sorted({r["id"] for r in ptc} | {r["id"] for r in sem})
    split = KFold(k, shuffle=True, random_state=seed).split(ids)
    return {ids[i]: f for f, (_, test) in enumerate(split) for i in test}


def flat(metrics: dict) -> dict[str, float | None]:
    spans = metrics.get("spans") or {}
    si = spans.get("si") or {}
    tc = spans.get("tc") or {}
    sent = metrics.get("sentences") or {}
    frames = metrics.get("frames") or {}
    flc = spans.get("flc") or {}
    return {
        "flc_precision": flc.get("precision"),
        "flc_recall": flc.get("recall"),
        "flc_f1": flc.get("f1"),
        "si_precision": si.get("precision"),
        "si_recall": si.get("recall"),
        "si_f1": si.get("f1"),
        "tc_micro_f1": tc.get("micro_f1"),
        "tc_macro_f1": tc.get("macro_f1"),
        "sentence_f1": sent.get("f1"),
        "frames_micro_f1": frames.get("micro_f1"),
        "frames_macro_f1": frames.get("macro_f1"),
    }


def pooled(per_fold: list[dict]) -> dict:
    """Mean over folds of every figure (per-label F1s too)."""
    out: dict = {}
    for k in per_fold[0]:
        if isinstance(per_fold[0][k], dict):
            out[k] = pooled([f[k] for f in per_fold])
        elif any(f[k] is not None for f in per_fold):
            out[k] = float(np.mean([f[k] for f in per_fold if f[k] is not None]))
    return out


def variant_config(base: Path, name: str, tmp: Path) -> Path:
    """models/default.toml with the variant's [tagger] overrides, as a file."""
    import tomllib

    cfg = tomllib.loads(base.read_text(encoding="utf-8"))
    cfg["tagger"] = {**cfg.get("tagger", {}), **VARIANTS[name]["tagger"]}
    path = tmp / f"{name}.toml"
    path.write_text(to_toml(cfg), encoding="utf-8")
    return path


def to_toml(cfg: dict) -> str:
    """A model config (flat tables of scalars and lists) as TOML text."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    for table, values in cfg.items():
        if isinstance(values, dict):
            lines.append(f"[{table}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def span_words(text: str, start: int, end: int) -> int:
    return len(text[start:end].split())


def spans_report(evaluation, techniques) -> dict:
    """Predicted and gold span lengths (words) per technique, for pooling over folds."""
    pred: dict[str, list[int]] = {t: [] for t in techniques}
    gold: dict[str, list[int]] = {t: [] for t in techniques}
    for d in evaluation.documents:
        if "technique" not in d.annotated:
            continue
        for a, b, lab, _ in d.pred_spans:
            pred.setdefault(lab, []).append(span_words(d.text, a, b))
        for a, b, lab in d.gold_spans:
            gold.setdefault(lab, []).append(span_words(d.text, a, b))
    return {"pred": pred, "gold": gold}


def babe_measure(model_dir: Path, babe_test: Path) -> dict:
    """Words inside predicted Loaded_Language spans against BABE's biased words."""
    ev = evaluate_model(model_dir, babe_test)
    docs = [d for d in ev.documents if "technique" in d.annotated]
    pred = [[(a, b) for a, b, lab, _ in d.pred_spans if lab == LL] for d in docs]
    any_pred = [[(a, b) for a, b, _, _ in d.pred_spans] for d in docs]
    gold = [[(a, b) for a, b, lab in d.gold_spans if lab == LL] for d in docs]
    texts = [d.text for d in docs]
    return {
        "ll": metrics.word_prf(texts, pred, gold),
        "any": metrics.word_prf(texts, any_pred, gold),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--fold-seed",
        type=int,
        default=0,
        help="shuffle of the article ids into folds (other seeds: repeated CV, to see the noise)",
    )
    ap.add_argument("--limit", type=int, default=None, help="first N articles of each corpus")
    ap.add_argument("--config", default=str(REPO / "models" / "default.toml"))
    ap.add_argument("--variants", default="before,after,after-no-babe")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--lexicon", action="append", default=[], help="word list for training")
    ap.add_argument(
        "--lexicon-set",
        choices=["shared"],
        help="shared: every word list of ../shared/data/lexicons and BABE's bias word list",
    )
    ap.add_argument("--out", default="quality", help="bench/out/NAME.json")
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    lexicons = [Path(p) for p in args.lexicon]
    if args.lexicon_set == "shared":
        lexicons += sorted(
            p
            for p in (DATA / "lexicons").glob("*/*.t*")
            if p.name != "other_lexicons.txt"  # a list of other lists, not words
        ) + [DATA / "babe" / "bias_word_lexicon.txt"]
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    schema = load_schema()
    ptc, sem = load_rows(args.limit)
    babe = list(babe_rows(BABE_CSV))
    if args.limit:
        babe = babe[: args.limit * 8]
    fold_of = article_folds(ptc, sem, args.folds, args.fold_seed)
    babe_fold = {
        babe[i]["id"]: f
        for f, (_, test) in enumerate(
            KFold(args.folds, shuffle=True, random_state=args.fold_seed).split(babe)
        )
        for i in test
    }
    results: dict[str, list[dict]] = {v: [] for v in variants}
    lengths: dict[str, dict] = {v: {"pred": {}, "gold": {}} for v in variants}
    base: list[dict] = []
    timing: dict[str, dict] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp_name:
        tmp = Path(tmp_name)
        configs = {v: variant_config(Path(args.config), v, tmp) for v in variants}
        if not args.skip_timing:
            write_corpus(ptc, tmp / "ptc-all", source={"format": "ptc"})
            write_corpus(sem, tmp / "sem-all", source={"format": "semeval2023"})
            write_corpus(babe, tmp / "babe-all", source={"format": "babe"})
            for v in variants:
                corpora = [tmp / "ptc-all", tmp / "sem-all"]
                corpora += [tmp / "babe-all"] if VARIANTS[v]["babe"] else []
                t0, cpu0 = time.perf_counter(), time.process_time()
                summary = train(
                    corpora, tmp / f"model-all-{v}", config=configs[v], lexicons=lexicons,
                    progress=lambda m: None,
                )  # fmt: skip
                timing[v] = {
                    "wall_seconds": time.perf_counter() - t0,
                    # training runs in 2 threads: CPU time is above wall time
                    "cpu_seconds": time.process_time() - cpu0,
                    "load_average": os.getloadavg()[0],
                }
                print(f"[{v}] {summary}", flush=True)
                print(f"[{v}] time to train on the full corpora: {timing[v]}", flush=True)
        for k in range(1, args.folds + 1):
            test_ids = {i for i, f in fold_of.items() if f == k - 1}
            fold = tmp / f"fold{k}"
            parts = {}
            for name, rows, fold_map in (("ptc", ptc, fold_of), ("sem", sem, fold_of),
                                         ("babe", babe, babe_fold)):  # fmt: skip
                for part, keep in (("train", False), ("test", True)):
                    sel = [r for r in rows if (fold_map[r["id"]] == k - 1) == keep]
                    parts[name, part] = fold / f"{name}-{part}"
                    write_corpus(sel, parts[name, part], source={"format": name, "fold": k})
            test_dirs = [parts["ptc", "test"], parts["sem", "test"]]
            for v in variants:
                corpora = [parts["ptc", "train"], parts["sem", "train"]]
                corpora += [parts["babe", "train"]] if VARIANTS[v]["babe"] else []
                train(corpora, fold / v, config=configs[v], lexicons=lexicons,
                      progress=lambda m: None)  # fmt: skip
                ev = evaluate_model(fold / v, test_dirs)
                row = flat(ev.metrics)
                row["per_label_f1"] = {
                    lab: m["f1"] for lab, m in (ev.metrics["spans"] or {})["per_label"].items()
                }
                b = babe_measure(fold / v, parts["babe", "test"])
                row |= {f"babe_{key}": b["ll"][m] for key, m in
                        (("precision", "precision"), ("recall", "recall"), ("f1", "f1"))}  # fmt: skip
                row |= {"babe_any_precision": b["any"]["precision"],
                        "babe_any_recall": b["any"]["recall"]}  # fmt: skip
                results[v].append(row)
                for side in ("pred", "gold"):
                    for lab, ns in spans_report(ev, schema.techniques)[side].items():
                        lengths[v][side].setdefault(lab, []).extend(ns)
                print(f"fold {k}: {v} {fmt(row)}", flush=True)
            if not args.skip_baseline:
                span_docs = [merge(r) for r in ptc if r["id"] not in test_ids]
                frame_docs = [merge(r) for r in sem if r["id"] not in test_ids]
                with threadpool_limits(1):
                    baseline = Baseline(schema.frames).fit(span_docs, frame_docs)
                    base.append(flat(evaluate(baseline, test_dirs)))
                print(f"fold {k}: base {fmt(base[-1])}", flush=True)
    medians = {
        v: {
            lab: {
                "pred_median_words": float(np.median(lengths[v]["pred"][lab]))
                if lengths[v]["pred"].get(lab) else None,
                "gold_median_words": float(np.median(lengths[v]["gold"][lab]))
                if lengths[v]["gold"].get(lab) else None,
                "predicted": len(lengths[v]["pred"].get(lab, [])),
            }
            for lab in schema.techniques
        }
        for v in variants
    }  # fmt: skip
    result = {
        "folds": args.folds,
        "fold_seed": args.fold_seed,
        "documents": {"ptc": len(ptc), "semeval2023": len(sem), "babe": len(babe)},
        "config": load_config(args.config),
        "variants": {v: VARIANTS[v] for v in variants},
        "lexicons": [
            str(p.relative_to(DATA)) if p.is_relative_to(DATA) else str(p) for p in lexicons
        ],
        "models": {v: pooled(results[v]) for v in variants},
        "span_lengths": medians,
        "baseline": pooled(base) if base else None,
        "per_fold": {**results, "baseline": base},
        "targets": TARGETS,
        "train_full": timing,
        "bench_seconds": time.perf_counter() - started,
        "cpu_count": os.cpu_count(),
        "load_average_end": os.getloadavg()[0],
    }
    print_table(result)
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"{args.out}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


def fmt(m: dict) -> str:
    return " ".join(f"{k}={v:.3f}" for k, v in m.items() if isinstance(v, float))


def print_table(result: dict) -> None:
    models, base = result["models"], result["baseline"] or {}
    names = list(models)
    print(f"\n{'measure (mean of folds)':<24}" + "".join(f"{n:>15}" for n in names)
          + f"{'baseline':>10}{'target':>8}")  # fmt: skip
    keys = [k for k in next(iter(models.values())) if k != "per_label_f1"]
    for key in keys:
        target = TARGETS.get(key)
        b = base.get(key)
        print(
            f"{key:<24}"
            + "".join(f"{models[n].get(key, float('nan')):>15.3f}" for n in names)
            + f"{(f'{b:.3f}' if b is not None else '-'):>10}"
            + f"{(f'{target:.2f}' if target else ''):>8}"
        )
    print("\nspan F1 per technique / median words predicted (gold)")
    for lab in result["span_lengths"][names[0]]:
        cells = []
        for n in names:
            f1 = models[n].get("per_label_f1", {}).get(lab)
            med = result["span_lengths"][n][lab]
            cells.append(f"{f1 if f1 is not None else float('nan'):.3f}/{med['pred_median_words']}")
        gold = result["span_lengths"][names[0]][lab]["gold_median_words"]
        print(f"  {lab:<38}" + "".join(f"{c:>15}" for c in cells) + f"   gold {gold}")
    for n, t in result["train_full"].items():
        print(f"train [{n}] on the full corpora: {t['wall_seconds']:.1f} s wall, "
              f"{t['cpu_seconds']:.1f} s CPU")  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark the repeated-passage detector: quality on planted + natural repeats, and speed.

Quality: the 371 PTC training articles (../shared/data/ptc/train-articles) with planted
repeats: verbatim copies of passages into another article, edited copies (one word in every
5-7 changed, inserted or deleted, so no 8 words in a row survive) within and across
articles, splices (the end of one passage glued to the start of another, both cut
mid-sentence), and whole-article copies with light edits. Gold = the planted occurrences
(source and copy) plus the natural repeats the articles already have, found by an exact
pass (every word inside an 8-word shingle that occurs twice in the set). Natural
*near*-copies (the same wire story edited by two outlets) are not in that gold, so they count
against precision although CONTRACTS section 10 counts them as repeats (the "precision loss"
lines show all of it is in near-copy spans, none in verbatim ones). The second figure adds
them with an independent line-level difflib oracle (`natural_near_copies`), which still
misses near-copies that cross a line break or share only one 4-word run with their copy.
Two more golds add natural 8-word runs occurring twice with one word substituted: all of them
(`si_gold_with_one_word_substitutions`; this counts every shared 7-word run whose neighbours
differ, as the changed word may be the first or last of the eight), or only those with the
changed word inside the run (`si_gold_with_interior_substitutions`; also united with the
difflib lines). `one_substitution_words` splits the words these add by interior/edge and
within/cross and counts those found; `interior_gold_as_detector` scores that gold itself
against the others (how far the golds disagree).
Measures: SemEval-2020 SI precision/recall/F1 (annotate.metrics.si_prf) and the share of
planted copies found (>= 50% of the copy covered).

Speed: within-document docs/s on the articles; the cross-document pass (signatures with a
process pool, the join, then aligning the proposed pairs) on 10,000 and 100,000 synthetic
documents of ~5 KB (Zipf-distributed words from the PTC vocabulary, 2% with a copied passage
and 5% with a shared footer).

    .venv/bin/python bench/bench_repeats.py [--sizes 10000,100000] [--workers 2]
        [--skip-quality] [--compare-with GIT_REV]

Prints figures and writes bench/out/bench_repeats.json (bench_repeats_compare.json when only
--compare-with runs: with --skip-quality --sizes "").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotate import repeats  # noqa: E402
from annotate.documents import Document, read_text_file  # noqa: E402
from annotate.metrics import merge_overlaps, si_prf  # noqa: E402

PTC = ROOT.parent / "shared" / "data" / "ptc" / "train-articles"
OUT = ROOT / "bench" / "out"
WORD = re.compile(r"\w+")
FILLER_WORDS = "zorblax quux frobnic glimmer vantor plosh".split()


def edit(words: list[str], rng: random.Random, lo: int = 5, hi: int = 7) -> list[str]:
    """Change, insert or delete one word in every lo..hi words."""
    out: list[str] = []
    nxt = rng.randint(lo, hi)
    for i, w in enumerate(words):
        if i == nxt:
            nxt += rng.randint(lo, hi)
            kind = rng.choice(("sub", "ins", "del"))
            if kind == "sub":
                out.append(rng.choice(FILLER_WORDS))
            elif kind == "ins":
                out.extend([w, rng.choice(FILLER_WORDS)])
            continue
        out.append(w)
    return out


def passage(text: str, rng: random.Random, n_words: int) -> tuple[int, int]:
    """Character span of a random run of n_words words (may start/end mid-sentence)."""
    ms = list(WORD.finditer(text))
    if len(ms) <= n_words:
        return ms[0].start(), ms[-1].end()
    i = rng.randrange(0, len(ms) - n_words)
    return ms[i].start(), ms[i + n_words - 1].end()


def insert_at_paragraph(
    text: str, piece: str, rng: random.Random, after: int = 0
) -> tuple[str, int]:
    """Insert `piece` as its own paragraph at a line break at or after `after`."""
    breaks = [m.end() for m in re.finditer(r"\n", text) if m.end() >= after] or [len(text)]
    at = rng.choice(breaks)
    new = text[:at] + piece + "\n" + text[at:]
    return new, at


def build_planted(seed: int = 13):
    """Documents and gold spans (per document), with the kinds of planted copies."""
    rng = random.Random(seed)
    paths = sorted(PTC.glob("article*.txt"))
    texts = {p.stem: read_text_file(p) for p in paths}
    ids = list(texts)
    rng.shuffle(ids)
    sources, targets = ids[: len(ids) // 2], ids[len(ids) // 2 :]
    planted: dict[str, list[tuple[int, int]]] = {i: [] for i in ids}
    kinds = Counter()
    copies = []  # (doc, start, end, kind) of each planted copy

    def plant(target: str, src_id: str, s: int, e: int, piece: str, kind: str, after: int = 0):
        new, at = insert_at_paragraph(texts[target], piece, rng, after)
        # spans already recorded for target shift if they are after the insertion point
        shift = len(piece) + 1
        planted[target] = [
            (a + shift, b + shift) if a >= at else (a, b) for a, b in planted[target]
        ]
        copies[:] = [
            (d, a + shift, b + shift, k) if d == target and a >= at else (d, a, b, k)
            for d, a, b, k in copies
        ]
        if src_id == target and s >= at:
            s, e = s + shift, e + shift
        texts[target] = new
        planted[src_id].append((s, e))
        m = list(WORD.finditer(piece))
        planted[target].append((at + m[0].start(), at + m[-1].end()))
        copies.append((target, at + m[0].start(), at + m[-1].end(), kind))
        kinds[kind] += 1

    for n, target in enumerate(targets):
        kind = ("verbatim", "edited_cross", "edited_within", "splice", "none")[n % 5]
        if kind == "none":
            continue
        if kind == "verbatim":
            src = rng.choice(sources)
            s, e = passage(texts[src], rng, rng.randint(10, 60))
            plant(target, src, s, e, texts[src][s:e], kind)
        elif kind == "edited_cross":
            src = rng.choice(sources)
            s, e = passage(texts[src], rng, rng.randint(15, 60))
            piece = " ".join(edit(texts[src][s:e].split(), rng))
            plant(target, src, s, e, piece, kind)
        elif kind == "edited_within":
            s, e = passage(texts[target][: len(texts[target]) // 2], rng, rng.randint(15, 50))
            piece = " ".join(edit(texts[target][s:e].split(), rng))
            plant(target, target, s, e, piece, kind, after=e)
        elif kind == "splice":
            a, b = rng.sample(sources, 2)
            s1, e1 = passage(texts[a], rng, rng.randint(9, 25))
            s2, e2 = passage(texts[b], rng, rng.randint(9, 25))
            piece = texts[a][s1:e1] + " " + texts[b][s2:e2]
            new, at = insert_at_paragraph(texts[target], piece, rng)
            texts[target] = new
            shift = len(piece) + 1
            planted[target] = [
                (x + shift, y + shift) if x >= at else (x, y) for x, y in planted[target]
            ]
            copies[:] = [
                (d, x + shift, y + shift, k) if d == target and x >= at else (d, x, y, k)
                for d, x, y, k in copies
            ]
            planted[a].append((s1, e1))
            planted[b].append((s2, e2))
            planted[target].append((at, at + len(piece)))
            copies.append((target, at, at + (e1 - s1), "splice"))
            copies.append((target, at + (e1 - s1) + 1, at + len(piece), "splice"))
            kinds["splice"] += 1
    # whole-article copies, lightly edited (one word in 12-20), as new documents
    docs = [Document(i, texts[i]) for i in sorted(texts)]
    for n, src in enumerate(rng.sample(sources, 20)):
        words = re.split(r"(\s+)", texts[src])
        body = "".join(
            (rng.choice(FILLER_WORDS) if (k // 2) % rng.randint(12, 20) == 5 else w)
            if k % 2 == 0
            else w
            for k, w in enumerate(words)
        )
        doc_id = f"copy{n:02d}-{src}"
        docs.append(Document(doc_id, body))
        ms = list(WORD.finditer(body))
        planted[doc_id] = [(ms[0].start(), ms[-1].end())]
        m0 = list(WORD.finditer(texts[src]))
        planted[src].append((m0[0].start(), m0[-1].end()))
        copies.append((doc_id, ms[0].start(), ms[-1].end(), "whole_article"))
        kinds["whole_article"] += 1
    natural = natural_repeats(docs)
    gold = {d.id: merge_overlaps(planted.get(d.id, []) + natural[d.id]) for d in docs}
    return docs, gold, natural, copies, kinds


def natural_repeats(
    docs: list[Document], substitutions: bool = False, interior_only: bool = False
) -> dict[str, list[tuple[int, int]]]:
    """Exact pass: spans of words covered by an 8-word shingle occurring twice in the set
    (with `substitutions`, also 8-word shingles equal but for one word; with `interior_only`,
    only if that word is not the first or last, so a shared 7-word run with different
    neighbours is not one)."""
    return _covered_spans(docs, _one_substitution_windows(docs, substitutions, interior_only))


def _one_substitution_windows(
    docs: list[Document], substitutions: bool, interior_only: bool = False
) -> dict[tuple, list[tuple[int, int]]]:
    """8-word windows (doc, word index) grouped by their words, and (with `substitutions`)
    by their words but for position k, under keys (k, 7 words); exact keys are the 8 words."""
    where: dict[tuple, list[tuple[int, int]]] = {}
    positions = range(1, 7) if interior_only else range(8)
    for n, d in enumerate(docs):
        w = [m.group().lower() for m in WORD.finditer(d.text)]
        for i in range(len(w) - 7):
            gram = tuple(w[i : i + 8])
            where.setdefault(gram, []).append((n, i))
            if substitutions:
                for k in positions:
                    where.setdefault((k, *gram[:k], *gram[k + 1 :]), []).append((n, i))
    return where


def _covered_spans(
    docs: list[Document], where: dict[tuple, list[tuple[int, int]]]
) -> dict[str, list[tuple[int, int]]]:
    words = [list(WORD.finditer(d.text)) for d in docs]
    covered: list[set[int]] = [set() for _ in docs]
    for occ in where.values():
        if len(occ) > 1 and len({x for x in occ}) > 1:
            for n, i in occ:
                covered[n].update(range(i, i + 8))
    out = {}
    for n, d in enumerate(docs):
        spans, ms = [], words[n]
        run = None
        for i in sorted(covered[n]):
            if run and i == run[1]:
                run[1] = i + 1
            else:
                if run:
                    spans.append((ms[run[0]].start(), ms[run[1] - 1].end()))
                run = [i, i + 1]
        if run:
            spans.append((ms[run[0]].start(), ms[run[1] - 1].end()))
        out[d.id] = spans
    return out


def substitution_recall(
    docs: list[Document], pred: list[list[tuple[int, int]]], gold: list[list[tuple[int, int]]]
) -> dict[str, dict[str, int]]:
    """Words the one-substitution gold adds to `gold` (planted + exact), by how they got in:
    the substituted word inside the 8-word window (`interior`) or only ever its first or last
    word (`edge`: a shared 7-word run with other neighbours), within one document or across;
    and how many of them the detector's spans cover."""
    where = _one_substitution_windows(docs, substitutions=True)
    best: dict[tuple[int, int], tuple[int, int]] = {}  # word -> (edge?, cross?), lowest wins
    for key, occ in where.items():
        if not isinstance(key[0], int) or len(set(occ)) < 2:
            continue
        kind = (int(key[0] in (0, 7)), int(len({n for n, _ in occ}) > 1))
        for n, i in occ:
            for j in range(i, i + 8):
                if kind < best.get((n, j), (9, 9)):
                    best[n, j] = kind
    words = [list(WORD.finditer(d.text)) for d in docs]
    out: dict[str, dict[str, int]] = {}
    for (n, j), (edge, cross) in best.items():
        m = words[n][j]
        if any(a <= m.start() and m.end() <= b for a, b in gold[n]):
            continue
        name = ("interior", "edge")[edge] + "-" + ("within", "cross")[cross]
        entry = out.setdefault(name, {"words": 0, "found": 0})
        entry["words"] += 1
        entry["found"] += any(a <= m.start() and m.end() <= b for a, b in pred[n])
    return dict(sorted(out.items()))


def natural_near_copies(docs: list[Document]) -> dict[str, list[tuple[int, int]]]:
    """Independent oracle for natural near-copies at the line (= sentence) level: lines
    sharing two word 4-grams are compared with difflib; a pair whose matching region (blocks
    of >= 3 words) has >= 8 words on both sides and >= 80% matched words is a repeat."""
    from difflib import SequenceMatcher

    lines = []  # (doc id, char offsets of words, lower-cased words)
    for d in docs:
        for m in re.finditer(r"[^\n]+", d.text):
            ms = list(WORD.finditer(m.group()))
            if len(ms) >= 8:
                spans = [(m.start() + w.start(), m.start() + w.end()) for w in ms]
                lines.append((d.id, spans, [w.group().lower() for w in ms]))
    index: dict[tuple, list[int]] = {}
    for n, (_, _, w) in enumerate(lines):
        for g in {tuple(w[i : i + 4]) for i in range(len(w) - 3)}:
            index.setdefault(g, []).append(n)
    pairs: Counter = Counter()
    for holders in index.values():
        if 1 < len(holders) <= 50:
            for i, a in enumerate(holders):
                for b in holders[i + 1 :]:
                    pairs[a, b] += 1
    out: dict[str, list[tuple[int, int]]] = {d.id: [] for d in docs}
    for (a, b), shared in pairs.items():
        if shared < 2:
            continue
        wa, wb = lines[a][2], lines[b][2]
        blocks = [x for x in SequenceMatcher(None, wa, wb, autojunk=False).get_matching_blocks()]
        blocks = [x for x in blocks if x.size >= 3]
        if not blocks:
            continue
        a0, a1 = blocks[0].a, blocks[-1].a + blocks[-1].size
        b0, b1 = blocks[0].b, blocks[-1].b + blocks[-1].size
        matched = sum(x.size for x in blocks)
        if min(a1 - a0, b1 - b0) < 8 or matched < 0.8 * max(a1 - a0, b1 - b0):
            continue
        for line, lo, hi in ((lines[a], a0, a1), (lines[b], b0, b1)):
            out[line[0]].append((line[1][lo][0], line[1][hi - 1][1]))
    return out


def precision_loss(found: dict, ids: list[str], gold: list[list[tuple[int, int]]]) -> dict:
    """Where precision goes: per kind of predicted span (within a document or across, verbatim
    (score 1) or near-copy, up to 12 words or longer), the number of spans and the summed
    share of each span outside gold (SI precision = 1 - total loss / all spans)."""
    out: dict[str, dict] = {}
    for doc_id, g in zip(ids, gold, strict=True):
        for r in found[doc_id]:
            inside = sum(max(0, min(r.end, b) - max(r.start, a)) for a, b in g)
            kind = "-".join(
                (
                    "cross" if r.of_id != doc_id else "within",
                    "verbatim" if r.score == 1.0 else "near",
                    "short" if len(WORD.findall(r.text)) <= 12 else "long",
                )
            )
            entry = out.setdefault(kind, {"spans": 0, "loss": 0.0})
            entry["spans"] += 1
            entry["loss"] = round(entry["loss"] + 1 - inside / (r.end - r.start), 2)
    return dict(sorted(out.items()))


def quality() -> dict:
    docs, gold, natural, copies, kinds = build_planted()
    t0 = time.perf_counter()
    found = repeats.repeated_passages(docs)
    seconds = time.perf_counter() - t0
    ids = [d.id for d in docs]
    pred = [[(r.start, r.end) for r in found[i]] for i in ids]
    result = si_prf(pred, [gold[i] for i in ids])
    per_kind: dict[str, list[int]] = {}
    for doc, s, e, kind in copies:
        merged = merge_overlaps([(r.start, r.end) for r in found[doc]])
        hit = sum(max(0, min(e, b) - max(s, a)) for a, b in merged) >= 0.5 * (e - s)
        per_kind.setdefault(kind, [0, 0])
        per_kind[kind][0] += hit
        per_kind[kind][1] += 1
    nat = si_prf(pred, [natural[i] for i in ids])
    difflib_near = natural_near_copies(docs)
    gold_difflib = [merge_overlaps(gold[i] + difflib_near[i]) for i in ids]
    result_difflib = si_prf(pred, gold_difflib)
    near = natural_repeats(docs, substitutions=True)
    gold_near = [merge_overlaps(gold[i] + near[i]) for i in ids]
    result_near = si_prf(pred, gold_near)
    interior = natural_repeats(docs, substitutions=True, interior_only=True)
    gold_interior = [merge_overlaps(gold[i] + interior[i]) for i in ids]
    result_interior = si_prf(pred, gold_interior)
    gold_union = [merge_overlaps(gold_interior[n] + gold_difflib[n]) for n in range(len(ids))]
    result_union = si_prf(pred, gold_union)
    # the golds disagree with each other: a detector exactly equal to the interior gold scores
    gold_1 = [gold[i] for i in ids]
    interior_gold_as_detector = {
        "f1_against_gold": si_prf(gold_interior, gold_1)["f1"],
        "f1_against_gold_with_difflib_near_copies": si_prf(gold_interior, gold_difflib)["f1"],
        "f1_against_gold_with_one_word_substitutions": si_prf(gold_interior, gold_near)["f1"],
    }
    return {
        "precision_loss": {
            "gold": precision_loss(found, ids, [gold[i] for i in ids]),
            "gold_with_difflib_near_copies": precision_loss(found, ids, gold_difflib),
        },
        "documents": len(docs),
        "planted": dict(kinds),
        "gold_spans": sum(len(g) for g in gold.values()),
        "predicted_spans": sum(len(p) for p in pred),
        "si": result,
        "si_gold_with_one_word_substitutions": result_near,
        "si_gold_with_interior_substitutions": result_interior,
        "interior_gold_as_detector": interior_gold_as_detector,
        "si_gold_with_interior_substitutions_and_difflib_near_copies": result_union,
        "one_substitution_words": substitution_recall(docs, pred, [gold[i] for i in ids]),
        "si_gold_with_difflib_near_copies": result_difflib,
        "natural_exact_recall": nat["recall"],
        "copies_found": {k: {"found": v[0], "of": v[1]} for k, v in per_kind.items()},
        "seconds_all_371_plus_copies": seconds,
    }


def within_speed(reps: int = 3) -> dict:
    texts = [read_text_file(p) for p in sorted(PTC.glob("article*.txt"))]
    best = None
    for _ in range(reps):
        t0 = time.process_time()
        for t in texts:
            repeats.repeats_within(t)
        dt = time.process_time() - t0
        best = dt if best is None else min(best, dt)
    kb = sum(len(t) for t in texts) / len(texts) / 1000
    return {"documents": len(texts), "mean_kb": round(kb, 1), "docs_per_cpu_s": len(texts) / best}


def compare_with(rev: str, n_synthetic: int = 1000, reps: int = 3) -> dict:
    """Per-document CPU time of this checkout's detector and of `annotate/repeats.py` at git
    revision `rev`, measured interleaved in one process (fair on a shared machine): the
    cross-document signature, score's pass 1 (`signature`: + within-document alignment) and
    `repeats_within`, on the PTC articles and on synthetic 5 KB documents."""
    import importlib.util
    import subprocess
    import tempfile

    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:annotate/repeats.py"],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repeats_before.py"
        path.write_bytes(source)
        spec = importlib.util.spec_from_file_location("repeats_before", path)
        before = importlib.util.module_from_spec(spec)
        sys.modules["repeats_before"] = before
        spec.loader.exec_module(before)
    corpora = {
        "ptc": [read_text_file(p) for p in sorted(PTC.glob("article*.txt"))],
        "synthetic": synthetic_docs(n_synthetic, seed=11),
    }

    def ids(m, t):
        return m.tokens(t)[0] if hasattr(m, "tokens") else m.word_ids(t)

    tasks = {
        "anchors": lambda m, t: m.anchors(ids(m, t)),
        "signature": lambda m, t: m.signature(t, 0),
        "repeats_within": lambda m, t: m.repeats_within(t),
    }
    out: dict = {"before": rev, "load_average": os.getloadavg()}
    for corpus, texts in corpora.items():
        for task, fn in tasks.items():
            best = {}
            for _ in range(reps):
                for label, m in (("before", before), ("after", repeats)):
                    t0 = time.process_time()
                    for t in texts:
                        fn(m, t)
                    us = (time.process_time() - t0) / len(texts) * 1e6
                    best[label] = min(best.get(label, us), us)
            out[f"{corpus}_{task}_us_per_doc"] = {k: round(v) for k, v in best.items()}
    return out


# ---- cross-document scale ----------------------------------------------------------------------


def vocabulary() -> tuple[list[str], np.ndarray]:
    counts = Counter()
    for p in sorted(PTC.glob("article*.txt")):
        counts.update(w.lower() for w in WORD.findall(read_text_file(p)))
    words, freq = zip(*counts.most_common(), strict=True)
    p = np.asarray(freq, dtype=float)
    return list(words), p / p.sum()


def synthetic_docs(n: int, seed: int = 5) -> list[str]:
    """~5 KB documents of Zipf-like random words; 2% carry a passage copied from an earlier
    document, 5% a shared footer."""
    words, p = vocabulary()
    rng = np.random.default_rng(seed)
    vocab = np.asarray(words, dtype=object)
    footer = " ".join(rng.choice(vocab, 40, p=p))
    docs = []
    for i in range(n):
        w = vocab[rng.choice(len(vocab), 850, p=p)]
        text = ". ".join(" ".join(w[k : k + 17]) for k in range(0, len(w), 17)) + "."
        if i and rng.random() < 0.02:
            src = docs[int(rng.integers(0, i))]
            s = int(rng.integers(0, len(src) - 600))
            text = text[:2000] + " " + src[s : s + 500] + " " + text[2000:]
        if rng.random() < 0.05:
            text += "\n" + footer
        docs.append(text)
    return docs


def _sig(texts):
    """Anchors of each text, returned as one array and the lengths (cheap to pickle)."""
    sigs = [repeats.anchors(repeats.tokens(t)[0]) for t in texts]
    return np.concatenate(sigs), [len(s) for s in sigs]


def _align_batch(payload):
    out = 0
    for doc, partners in payload:
        ids = repeats.tokens(doc)[0]
        pids = {i: repeats.tokens(t)[0] for i, t in partners.items()}
        out += len(repeats.doc_occurrences(-1, ids, pids))
    return out


def _cpu() -> float:
    """CPU seconds of this process and of its reaped children (the pools' workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def cross_speed(n: int, workers: int) -> dict:
    """Wall and CPU seconds of the cross-document pass (each phase's pool is closed before
    its CPU time is read, so the workers' time is counted)."""
    t0 = time.perf_counter()
    docs = synthetic_docs(n)
    gen = time.perf_counter() - t0
    mb = sum(len(d) for d in docs) / 1e6
    c0, t0 = _cpu(), time.perf_counter()
    index = repeats.CrossIndex()
    batches = [docs[i : i + 500] for i in range(0, n, 500)]
    k = 0
    with ProcessPoolExecutor(workers) as pool:
        for flat, lengths in pool.map(_sig, batches):
            at = 0
            for n_anchors in lengths:
                index.add(k, flat[at : at + n_anchors])
                at += n_anchors
                k += 1
    c1, t1 = _cpu(), time.perf_counter()
    partners = index.partners()
    c2, t2 = _cpu(), time.perf_counter()
    items = [(docs[d], {p: docs[p] for p in ps}) for d, ps in partners.items()]
    with ProcessPoolExecutor(workers) as pool:
        found = sum(pool.map(_align_batch, [items[i : i + 200] for i in range(0, len(items), 200)]))
    c3, t3 = _cpu(), time.perf_counter()
    total = t3 - t0
    return {
        "documents": n,
        "mean_kb": round(mb * 1000 / n, 2),
        "workers": workers,
        "load_average": os.getloadavg(),
        "generate_s": round(gen, 1),
        "signatures_s": round(t1 - t0, 2),
        "signatures_cpu_s": round(c1 - c0, 2),
        "join_s": round(t2 - t1, 2),
        "join_cpu_s": round(c2 - c1, 2),
        "docs_with_partners": len(partners),
        "pairs": sum(len(v) for v in partners.values()),
        "align_pairs_s": round(t3 - t2, 2),
        "align_pairs_cpu_s": round(c3 - c2, 2),
        "occurrences_found": found,
        "cross_pass_s": round(total, 2),
        "cross_pass_cpu_s": round(c3 - c0, 2),
        "docs_per_s": round(n / total, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--compare-with", metavar="REV", help="per-document CPU against git REV")
    args = ap.parse_args()
    results: dict = {"detector": repeats.MODEL_VERSION}
    if args.compare_with:
        results["compare"] = compare_with(args.compare_with)
        for k, v in results["compare"].items():
            if k.endswith("_us_per_doc"):
                print(
                    f"{k}: {args.compare_with} {v['before']} us, now {v['after']} us "
                    f"({v['before'] / v['after']:.1f}x)"
                )
        print(f"  load average {results['compare']['load_average'][0]:.1f}")
    if not args.skip_quality:
        results["quality"] = quality()
        q = results["quality"]
        print(
            f"quality on {q['documents']} docs: SI P={q['si']['precision']:.3f} "
            f"R={q['si']['recall']:.3f} F1={q['si']['f1']:.3f}; copies found "
            + ", ".join(f"{k} {v['found']}/{v['of']}" for k, v in q["copies_found"].items())
            + f"; natural exact repeats recall {q['natural_exact_recall']:.3f}"
        )
        n = q["si_gold_with_difflib_near_copies"]
        print(
            f"  with natural near-copy lines (difflib oracle) in gold too: P={n['precision']:.3f} "
            f"R={n['recall']:.3f} F1={n['f1']:.3f}"
        )
        n = q["si_gold_with_one_word_substitutions"]
        print(
            f"  with natural one-substitution 8-grams in gold too: P={n['precision']:.3f} "
            f"R={n['recall']:.3f} F1={n['f1']:.3f}"
        )
        n = q["si_gold_with_interior_substitutions"]
        print(
            f"  ... the substituted word not first or last of the 8: P={n['precision']:.3f} "
            f"R={n['recall']:.3f} F1={n['f1']:.3f}; words beyond gold 1 found: "
            + ", ".join(
                f"{k} {v['found']}/{v['words']}" for k, v in q["one_substitution_words"].items()
            )
        )
        n = q["si_gold_with_interior_substitutions_and_difflib_near_copies"]
        print(
            f"  with both (interior substitutions and difflib near-copy lines): "
            f"P={n['precision']:.3f} R={n['recall']:.3f} F1={n['f1']:.3f}"
        )
        print(
            "  (the interior gold itself, taken as a detector, scores F1 "
            + ", ".join(
                f"{v:.3f} {k.removeprefix('f1_')}"
                for k, v in q["interior_gold_as_detector"].items()
            )
            + ")"
        )
        for name, loss in q["precision_loss"].items():
            print(
                f"  precision loss against {name}: "
                + ", ".join(f"{k} {v['loss']:.1f}/{v['spans']}" for k, v in loss.items())
            )
        results["within"] = within_speed()
        w = results["within"]
        print(f"within-document: {w['docs_per_cpu_s']:.0f} docs per CPU-second ({w['mean_kb']} KB)")
    for n in [int(x) for x in args.sizes.split(",") if x]:
        c = cross_speed(n, args.workers)
        results.setdefault("cross", []).append(c)
        print(
            f"cross-document, {n} docs of {c['mean_kb']} KB, {c['workers']} workers: "
            f"signatures {c['signatures_s']} s, join {c['join_s']} s, "
            f"align {c['pairs']} pairs {c['align_pairs_s']} s = {c['cross_pass_s']} s wall "
            f"({c['docs_per_s']} docs/s); CPU {c['cross_pass_cpu_s']} s "
            f"(signatures {c['signatures_cpu_s']}, join {c['join_cpu_s']}, "
            f"align {c['align_pairs_cpu_s']}); load average {c['load_average'][0]:.1f}"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    name = "bench_repeats_compare.json" if set(results) == {"detector", "compare"} else None
    (OUT / (name or "bench_repeats.json")).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

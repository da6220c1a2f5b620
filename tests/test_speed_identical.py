"""The batch-scoring speed-ups change no feature and no prediction (issue #18).

The per-item implementations they replaced are kept here as the reference: the span
technique classifier's fields (one dict per span, DictVectorizer) and scikit-learn's own
TF-IDF counting (`TfidfVectorizer.transform`, one string per n-gram). On real PTC articles,
the feature matrices must be bit-identical (same rows, columns, column order and values), and
a model whose pieces are switched back to the reference must predict exactly the same records.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from learn_helpers import DATA, FAST_CONFIG, small_corpora
from sklearn.feature_extraction.text import TfidfVectorizer

from annotate.errors import BadInput
from annotate.learn import arrays, features
from annotate.learn.features import WORD_RE, CompactTfidfVectorizer, tokenize
from annotate.learn.model import COMPONENT_FILES, Model, file_sha256
from annotate.learn.rules import labelled_spans
from annotate.learn.tagger import BLIND
from annotate.learn.technique import SpanFeatures
from annotate.learn.train import train

ARTICLES = DATA / "ptc" / "train-articles"


# ---- the reference: the per-item implementations the speed-up replaced ----------------------
def reference_fields(self: SpanFeatures, items):
    """`SpanFeatures._fields` before the speed-up."""

    def norm(text):
        return " ".join(WORD_RE.findall(text.lower()))

    def context(text, start, end, width):
        left = WORD_RE.findall(text[max(0, start - 12 * width) : start].lower())[-width:]
        right = WORD_RE.findall(text[end : end + 12 * width].lower())[:width]
        return " ".join(left), " ".join(right)

    lexicons = {k: frozenset(v) for k, v in (self.lexicons or {}).items()}
    spans_text, contexts, extras = [], [], []
    norm_docs: dict[int, str] = {}
    for text, start, end in items:
        key = id(text)
        if key not in norm_docs:
            norm_docs[key] = " " + norm(text) + " "
        piece = text[start:end]
        words = WORD_RE.findall(piece.lower())
        left, right = context(text, start, end, self.context_words)
        spans_text.append(piece)
        contexts.append(
            " ".join("L_" + w for w in left.split())
            + " "
            + " ".join("R_" + w for w in right.split())
        )
        normed = " " + " ".join(words) + " "
        repeats = norm_docs[key].count(normed) if words else 0
        before = text[max(0, start - 3) : start]
        after = text[end : end + 3]
        f = {
            "n_words": math.log1p(len(words)),
            f"len_bin={min(len(words), 12) if len(words) < 12 else 12 + len(words) // 10}": 1,
            "repeated": float(repeats > 1),
            "repeats": math.log1p(max(repeats - 1, 0)),
            "upper_ratio": sum(c.isupper() for c in piece) / max(len(piece), 1),
            "starts_sentence": float(start == 0 or text[start - 1] == "\n" or ". " in before),
            "quoted": float(any(q in before for q in "\"“'") or any(q in after for q in "\"”'")),
            "ends_q": float(piece.rstrip().endswith("?") or after.startswith("?")),
            "ends_excl": float(piece.rstrip().endswith("!") or after.startswith("!")),
            "has_q": float("?" in piece),
            "has_excl": float("!" in piece),
            "one_word": float(len(words) == 1),
        }
        for name, lex in lexicons.items():
            hits = sum(w in lex for w in words)
            if hits:
                f["lex=" + name] = hits / len(words)
        extras.append(f)
    return spans_text, contexts, extras


def reference_token_matrix(
    tok,
    n_features: int,
    window: int = 2,
    lexicons: dict[str, frozenset[str]] | None = None,
    sentence_words: bool = False,
    vectors=None,
) -> sp.csr_matrix:
    """`features.token_matrix` before the speed-up: (row, column) pairs, then
    `sum_duplicates`.

    Features: the word and its neighbours (up to `window` each side, within the sentence),
    bigrams, 3-letter affixes, shape, position in the sentence from either end, inside a quote,
    sentence length and marks, lexicon membership of the word and its neighbours,
    (`sentence_words`) the sentence's words, and (`vectors`) the word's clusters at every
    granularity, its neighbours' clusters (two each side) and cluster bigrams.
    """
    lexicons = lexicons or {}
    n = tok.word.size
    if n == 0:
        return sp.csr_matrix((0, n_features))
    t = features._form_table(tok, lexicons)
    w = t["word"][tok.word]
    sid = tok.token_sentence
    first, last = features.sentence_geometry(sid)
    idx = np.arange(n)
    pos, rpos, length = idx - first, last - idx, last - first + 1
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []

    def add(template: int, values: np.ndarray, where: np.ndarray | None = None) -> None:
        r = idx if where is None else idx[where]
        v = values if where is None else values[where]
        rows.append(r)
        cols.append(features.hash_columns(template, v, n_features))

    add(features.T_BIAS, np.zeros(n, dtype=np.uint64))
    add(features.T_WORD, w)
    add(features.T_SHAPE, t["shape"][tok.word])
    long_word = t["long"][tok.word]
    add(features.T_P3, t["p3"][tok.word], long_word)
    add(features.T_S3, t["s3"][tok.word], long_word)
    add(features.T_POS, np.searchsorted([0, 1, 3, 7, 15, 30], pos).astype(np.uint64))
    add(features.T_RPOS, np.searchsorted([0, 1, 3, 7, 15], rpos).astype(np.uint64))
    quotes = np.cumsum(t["quote"][tok.word])
    before = np.where(first > 0, quotes[first - 1], 0)
    add(features.T_INQ, np.zeros(n, dtype=np.uint64), (quotes - before) % 2 == 1)
    neighbours = {}
    for d in range(1, window + 1):
        for sign, template, pad in (
            (-1, features.T_LEFT, features._BOS),
            (1, features.T_RIGHT, features._EOS),
        ):
            j = idx + sign * d
            inside = (j >= first) & (j <= last)
            values = np.where(inside, w[np.clip(j, 0, n - 1)], np.uint64(pad))
            neighbours[sign * d] = values
            add(template * 64 + d, values)
    if window:
        add(features.T_BG_PREV, features._pair(neighbours[-1], w))
        add(features.T_BG_NEXT, features._pair(w, neighbours[1]))
    lex = t["lex"][tok.word]
    for k in range(len(lexicons)):
        here = (lex >> k) & 1 == 1
        add(features.T_LEX, np.full(n, k, dtype=np.uint64), here)
        for d in (-1, 1):
            j = idx + d
            near = (j >= first) & (j <= last) & ((lex[np.clip(j, 0, n - 1)] >> k) & 1 == 1)
            add(features.T_LEX_NEAR, np.full(n, k, dtype=np.uint64), near)
    # sentence-level features, repeated on each of the sentence's tokens
    add(features.T_SLEN, np.searchsorted([5, 10, 20, 35, 60], length).astype(np.uint64))
    mark = t["mark"][tok.word]
    n_sent = int(sid.max()) + 1
    for m in range(1, len(features._MARKS) + 1):
        has = np.zeros(n_sent, dtype=bool)
        has[sid[mark == m]] = True
        add(features.T_MARK, np.full(n, m, dtype=np.uint64), has[sid])
    if sentence_words:
        # token i gets S=word for every distinct alphabetic word of its sentence
        alpha = t["alpha"][tok.word]
        s_a, w_a = sid[alpha], w[alpha]
        order = np.lexsort((w_a, s_a))
        s_a, w_a = s_a[order], w_a[order]
        distinct = np.ones(s_a.size, dtype=bool)
        distinct[1:] = (s_a[1:] != s_a[:-1]) | (w_a[1:] != w_a[:-1])
        s_a, w_a = s_a[distinct], w_a[distinct]
        counts = np.bincount(sid, minlength=n_sent)
        firsts = np.cumsum(counts) - counts  # tokens are in sentence order
        k = counts[s_a]
        pair = np.repeat(np.arange(s_a.size), k)
        rows.append(firsts[s_a][pair] + np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k))
        cols.append(features.hash_columns(features.T_S_WORD, w_a[pair], n_features))
    if vectors is not None:
        features._cluster_features(tok, vectors, first, last, add)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    X = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n_features))
    X.sum_duplicates()
    return X


class ReferenceTfidf(CompactTfidfVectorizer):
    """scikit-learn's own counting: one string per n-gram, counted in a dict."""

    def transform(self, raw_documents):
        return TfidfVectorizer.transform(self, raw_documents)


class ReferenceSpanFeatures(SpanFeatures):
    def transform(self, items):
        spans_text, contexts, extras = reference_fields(self, items)
        return sp.hstack(
            [
                self.words_.transform(spans_text),
                self.chars_.transform(spans_text),
                0.5 * self.context_.transform(contexts),
                self.extras_.transform(extras),
            ]
        ).tocsr()


def as_reference(model: Model) -> Model:
    """A deep copy of `model` computing its features with the reference implementations."""
    ref = copy.deepcopy(model)
    seen: set[int] = set()

    def walk(obj):
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, np.ndarray)):
            return
        seen.add(id(obj))
        if type(obj) is CompactTfidfVectorizer:
            obj.__class__ = ReferenceTfidf
        elif type(obj) is SpanFeatures:
            obj.__class__ = ReferenceSpanFeatures
        children = obj.values() if isinstance(obj, dict) else getattr(obj, "__dict__", {}).values()
        if isinstance(obj, (list, tuple)):
            children = obj
        for child in list(children):
            walk(child)

    walk(ref)
    assert ref.technique.features_.__class__ is ReferenceSpanFeatures
    return ref


def assert_same_csr(a, b) -> None:
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)  # bit for bit, not approximately


# ---- a real model, real articles ----------------------------------------------------------
CONFIG = FAST_CONFIG.replace("sentence_chars = false", "sentence_chars = true")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("speed")
    ptc, sem = small_corpora(root, n=20)
    (root / "speed.toml").write_text(CONFIG, encoding="utf-8")
    train([ptc, sem], root / "model", config=root / "speed.toml", progress=lambda m: None)
    return root / "model"


@pytest.fixture(scope="module")
def model(model_dir) -> Model:
    return Model.load(model_dir)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """60 PTC articles the model was not trained on (the first 20 are its training data)."""
    paths = sorted(Path(ARTICLES).glob("article*.txt"))[20:80]
    return [p.read_bytes().decode("utf-8") for p in paths]


def candidate_items(model: Model, texts: list[str]) -> list[tuple[str, int, int]]:
    """The (text, start, end) items Model.predict gives the technique classifier."""
    tagger = model.tagger
    F = tagger.featurize(texts)
    sources = tagger.source_scores_featurized(F, range(len(texts)))
    asked: list = []

    def proba(items):
        asked.extend((texts[d], a, b) for d, a, b in items)
        return model._technique_matrix([(texts[d], a, b) for d, a, b in items])

    assert BLIND in sources
    labelled_spans(F.offsets, sources, F.token_sentences(), tagger.rules, model.techniques, proba)
    return asked


def test_technique_features_are_identical(model, texts):
    items = candidate_items(model, texts)
    assert len(items) > 1000
    gold = []  # and gold-like spans from the training labels: other lengths, whole sentences
    for text in texts[:10]:
        gold += [(text, 0, len(text)), (text, 0, 1), (text, len(text) - 1, len(text))]
    features = model.technique.features_
    reference = as_reference(model).technique.features_
    assert_same_csr(features.transform(items + gold), reference.transform(items + gold))


def test_technique_blocks_give_the_same_probabilities(model, texts):
    """Model._technique_matrix classifies spans a block at a time: each row stands alone."""
    items = candidate_items(model, texts)
    whole = model.technique.predict_proba(items)
    blocks = np.vstack(
        [model.technique.predict_proba(items[i : i + 700]) for i in range(0, len(items), 700)]
    )
    assert np.array_equal(whole, blocks)


def test_tfidf_counts_are_identical_on_odd_text(model, texts):
    """Whitespace runs, tabs, non-breaking and other Unicode spaces, case, an empty text."""
    odd = ["", " ", "A\t\tb  C\u00a0d\u2003e\n\nF", "ΟΔΟΣ.Α İstanbul ǅemal", "x" * 40, *texts[:5]]
    vectorizers = [
        ("words", model.technique.features_.words_),
        ("chars", model.technique.features_.chars_),
        ("context", model.technique.features_.context_),
        ("frames", model.frame_classifier.pipeline_.named_steps["features"].transformer_list[0][1]),
    ]
    for _name, v in vectorizers:
        assert isinstance(v, CompactTfidfVectorizer)
        assert_same_csr(v.transform(odd), TfidfVectorizer.transform(v, odd))
        assert_same_csr(v.transform(odd), TfidfVectorizer.transform(v, odd))  # cache warm


def test_predictions_are_identical(model, texts):
    reference = as_reference(model)
    got = model.predict(texts)
    expected = reference.predict(texts)
    assert got == expected
    assert sum(len(r["spans"]) for r in got) > 0


def reference_offsets(text: str) -> list[tuple[int, int]]:
    """`tokenize`'s token offsets before the speed-up: one Match object per token."""
    return [m.span() for m in features.TOKEN_RE.finditer(text)]


def test_token_offsets_are_identical(texts):
    odd = ["", "  ", "a", " a ", "don't ’tis dogs' (x)—y…\u00a0z\t\n", "İstanbul ΟΔΟΣ.Α _x_ 3.14"]
    for text in odd + texts:
        tok = tokenize([text])
        assert tok.offsets == [reference_offsets(text)]
        assert [text[a:b] for a, b in tok.offsets[0]] == features.TOKEN_RE.findall(text)


def test_token_features_are_identical(model, texts):
    tagger = model.tagger
    tok = tokenize(texts)
    vectors = tagger.vectors()
    lexicons = {"opinion": frozenset(["bad", "good", "great", "corrupt", "fake"])}
    for window, lex, words, vec in [
        (tagger.window, {}, False, vectors),
        (2, lexicons, False, vectors),
        (1, lexicons, True, None),
        (0, {}, False, None),
    ]:
        got = features.token_matrix(tok, tagger.n_features, window, lex, words, vec)
        expected = reference_token_matrix(tok, tagger.n_features, window, lex, words, vec)
        assert_same_csr(got, expected)


# ---- the model's large arrays: .npy files beside the skops files, memory-mapped -------------
def test_large_arrays_are_memory_mapped_files(model_dir, model):
    info = json.loads((model_dir / "model.json").read_text())
    npy = sorted(p.name for p in model_dir.glob("*.npy"))
    assert npy and set(npy) <= set(info["files"])
    assert info["format_version"] == 2
    coef = model.tagger.sentence_classifier_.coef_
    assert isinstance(coef, np.memmap) and not coef.flags.writeable
    # the word vectors the tagger and the frame classifier both hold: one file, one mapping
    frames_vectors = model.frame_classifier.pipeline_.named_steps["features"].transformer_list[1][1]
    assert frames_vectors.vectors_.vectors_ is model.tagger.vectors_.vectors_


def test_tampered_array_file_is_refused(model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    victim = sorted(copy.glob("*.npy"))[0]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))
    with pytest.raises(BadInput, match=f"{victim.name} does not match the sha256"):
        Model.load(copy)


def test_directory_without_array_files_loads_and_predicts_the_same(model_dir, model, texts):
    """A model directory written before the .npy files (every array inside its skops file)."""
    import skops.io as sio

    old = model_dir.parent / "model-v1"
    old.mkdir(exist_ok=True)
    info = json.loads((model_dir / "model.json").read_text())
    files = {}
    for key, name in COMPONENT_FILES.items():
        component = {
            "tagger": model.tagger,
            "technique": model.technique,
            "frames": model.frame_classifier,
            "propaganda": model.propaganda,
        }[key]
        if component is None:
            continue
        plain = copy.deepcopy(component)
        for path, array in arrays.large_arrays(plain):  # kept inside the skops file
            arrays.attach(plain, path, np.array(array))
        sio.dump(plain, old / name)
        files[name] = file_sha256(old / name)
    info.update(files=files, format_version=1)
    info.pop("arrays")
    (old / "model.json").write_text(json.dumps(info))
    assert not list(old.glob("*.npy"))
    assert Model.load(old).predict(texts[:10]) == model.predict(texts[:10])


def test_dask_workers_load_the_model_directory_once_each(model_dir, model, texts):
    from annotate.documents import Document
    from annotate.scoring import score_records
    from annotate.scoring.engines import DaskEngine, ModelOnDisk

    docs = [Document(id=str(i), text=t, meta={}) for i, t in enumerate(texts[:12])]
    local = list(score_records(docs, model_dir, batch_size=4))
    engine = DaskEngine(2, model)
    try:
        assert isinstance(engine.model, ModelOnDisk)
    finally:
        engine.close()
    dask = list(score_records(docs, model_dir, engine="dask", workers=2, batch_size=4))
    assert dask == local


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_chunked_source_scores_are_bit_identical(model, texts, chunk):
    """SpanTagger.source_scores builds the sparse rows a chunk of documents at a time (the
    dense token features on the whole batch): every score bit for bit what featurizing the
    whole batch gives, and the same offsets and sentence numbers."""
    tagger = model.tagger
    F = tagger.featurize(texts)
    whole = tagger.source_scores_featurized(F, range(len(texts)))
    offsets, chunked, sentences = tagger.source_scores(texts, chunk)
    assert offsets == F.offsets
    assert [s.tolist() for s in sentences] == [s.tolist() for s in F.token_sentences()]
    assert chunked.keys() == whole.keys()
    for name, (tok, sent) in whole.items():
        for a, b in zip(tok + sent, chunked[name][0] + chunked[name][1], strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name

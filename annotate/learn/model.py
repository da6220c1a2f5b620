"""The trained model bundle: skops files (no pickle) + `.npy` arrays + `model.json` +
`MODEL_CARD.md`.

`Model.load(path)` opens the skops files trusting only an explicit list of types (the
toolkit's own estimator classes and the scikit-learn/numpy pieces they hold), and refuses
a file whose sha256 differs from `model.json` or a model trained for another label config. The large arrays (coefficients, word vectors) sit
beside the skops files as `.npy` files (`arrays.py`; listed in `model.json` under `arrays`,
sha256 under `files` like the rest) and are memory-mapped read-only, so processes that load
one model share its pages. A model directory without `arrays` (written before) loads as it
always did.
"""

from __future__ import annotations

import hashlib
import json
import platform
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotate.errors import BadInput
from annotate.learn import arrays
from annotate.learn.frames import FrameClassifier, PropagandaScorer, tagger_summary
from annotate.learn.info import MODEL_JSON, read_model_info
from annotate.learn.rules import labelled_spans
from annotate.learn.tagger import BLIND, SpanTagger, mix
from annotate.learn.technique import SpanItem, TechniqueClassifier, assign_labels
from annotate.schema import load_schema

MODEL_CARD = "MODEL_CARD.md"
TECHNIQUE_BLOCK = 4096  # spans classified at a time
# documents whose token and sentence rows are built at a time (`SpanTagger.source_scores`):
# the same scores as the whole batch at once, in a fraction of the memory
FEATURE_CHUNK = 32
FORMAT_VERSION = 2  # 2: large arrays in .npy files beside the skops files (1: inside)
COMPONENT_FILES = {
    "tagger": "tagger.skops",
    "technique": "technique.skops",
    "frames": "frames.skops",
    "propaganda": "propaganda.skops",
}
COMPONENT_TYPES = {
    "tagger": SpanTagger,
    "technique": TechniqueClassifier,
    "frames": FrameClassifier,
    "propaganda": PropagandaScorer,
}
# Types a model file may contain beyond skops' defaults: nothing else is ever loaded.
TRUSTED_TYPES = [
    "annotate.learn.features.CompactTfidfVectorizer",
    "annotate.learn.frames.FrameClassifier",
    "annotate.learn.frames.PropagandaScorer",
    "annotate.learn.tagger.SpanTagger",
    "annotate.learn.technique.SpanFeatures",
    "annotate.learn.technique.TechniqueClassifier",
    "annotate.learn.vectors.DocumentVectors",
    "annotate.learn.vectors.WordVectors",
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.feature_extraction._dict_vectorizer.DictVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.multiclass.OneVsRestClassifier",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.preprocessing._label.MultiLabelBinarizer",
]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions() -> dict[str, str]:
    import scipy
    import sklearn
    import skops

    from annotate import __version__ as annotate_version

    return {
        "annotate": annotate_version,
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


class Model:
    """Span tagger, technique classifier, frame classifier and document score, as one unit."""

    def __init__(
        self,
        info: dict[str, Any],
        tagger: SpanTagger | None = None,
        technique: TechniqueClassifier | None = None,
        frames: FrameClassifier | None = None,
        propaganda: PropagandaScorer | None = None,
    ):
        self.info = info
        self.tagger = tagger
        self.technique = technique
        self.frame_classifier = frames
        self.propaganda = propaganda
        self.path: Path | None = None  # the directory it was loaded from

    # ---- what callers read ----------------------------------------------------------
    @property
    def model_version(self) -> str:
        return self.info["model_version"]

    @property
    def techniques(self) -> tuple[str, ...]:
        return tuple(self.info["techniques"])

    @property
    def frames(self) -> tuple[str, ...]:
        return tuple(self.info["frames"])

    @property
    def frame_thresholds(self) -> dict[str, float]:
        return dict(self.info.get("frame_thresholds", {}))

    # ---- prediction -----------------------------------------------------------------
    def predict(
        self, texts: Sequence[str], token_scores: list[np.ndarray] | None = None
    ) -> list[dict]:
        """Per text: propaganda probability, frame probabilities and labels, model spans.

        `token_scores`, when given, is extended with each text's token scores (the tagger's
        mixed probabilities), for callers that also need them (active learning)."""
        texts = list(texts)
        results: list[dict] = [{} for _ in texts]
        if self.tagger is not None:
            if getattr(self.tagger, "rules", None) and self.technique is not None:
                probas, found = self._labelled_spans(texts)
            else:
                probas, found = self._blind_spans(texts)
            if token_scores is not None:
                token_scores.extend(probas)
            for i, (text, spans) in enumerate(zip(texts, found, strict=True)):
                results[i]["spans"] = [
                    {
                        "start": a,
                        "end": b,
                        "text": text[a:b],
                        "label": label,
                        "score": round(score, 4),
                        "source": "model",
                    }
                    for a, b, label, score in spans
                ]
            if self.propaganda is not None and texts:
                summaries = np.array([tagger_summary(p) for p in probas])
                doc_p = self.propaganda.predict_proba(summaries)[:, 1]
                for i, p in enumerate(doc_p):
                    results[i]["propaganda"] = round(float(p), 4)
        if self.frame_classifier is not None:
            proba = self.frame_classifier.predict_proba(texts)
            thresholds = self.frame_thresholds
            names = list(self.frame_classifier.classes_)
            for i, row in enumerate(proba):
                results[i]["frames"] = {
                    f: round(float(p), 4) for f, p in zip(names, row, strict=True)
                }
                results[i]["frame_labels"] = [
                    f for f, p in zip(names, row, strict=True) if p >= thresholds.get(f, 0.5)
                ]
        for r in results:
            r.setdefault("spans", [])
        return [
            {k: r[k] for k in ("propaganda", "frames", "frame_labels", "spans") if k in r}
            for r in results
        ]

    def _labelled_spans(self, texts: list[str]) -> tuple[list[np.ndarray], list[list]]:
        """Technique-aware spans: each technique decoded under its own rule (rules.py)."""
        tagger = self.tagger
        offsets, sources, token_sentences = tagger.source_scores(texts, FEATURE_CHUNK)
        p_tok, p_sent = sources[BLIND]
        probas = [
            mix(t, s, tagger.sentence_weight, tagger.document_weight)
            for t, s in zip(p_tok, p_sent, strict=True)
        ]
        sentences = token_sentences if tagger.within_sentences else [None] * len(texts)
        found = labelled_spans(
            offsets,
            sources,
            sentences,
            tagger.rules,
            self.techniques,
            lambda items: self._technique_matrix([(texts[d], a, b) for d, a, b in items]),
        )
        # a run of punctuation alone (a bracket, a dash) names no technique
        found = [
            [sp for sp in doc if any(c.isalnum() for c in text[sp[0] : sp[1]])]
            for text, doc in zip(texts, found, strict=True)
        ]
        return probas, found

    def _blind_spans(self, texts: list[str]) -> tuple[list[np.ndarray], list[list]]:
        """Technique-blind runs, each labelled with its most probable technique."""
        offsets, probas, sentences = self.tagger.score_tokens(texts)
        found = [
            self.tagger.decode_spans(o, p, s)
            for o, p, s in zip(offsets, probas, sentences, strict=True)
        ]
        # one technique-classifier call for the whole batch, labels assigned per document
        items = [(t, a, b) for t, f in zip(texts, found, strict=True) for a, b, _ in f]
        proba = self._technique_matrix(items)
        out, at = [], 0
        for spans in found:
            labels = (
                assign_labels(
                    items[at : at + len(spans)], proba[at : at + len(spans)], self.techniques
                )
                if spans and self.technique is not None
                else [""] * len(spans)
            )
            at += len(spans)
            out.append(
                [(a, b, lab, score) for (a, b, score), lab in zip(spans, labels, strict=True)]
            )
        return probas, out

    def _items(self, text: str, spans: Sequence[tuple[int, int]]) -> list[SpanItem]:
        return [(text, int(s), int(e)) for s, e in spans]

    def _technique_matrix(self, items: Sequence[SpanItem]) -> np.ndarray:
        """(n_items, n_techniques) probabilities, columns in `techniques` order."""
        out = np.zeros((len(items), len(self.techniques)))
        if self.technique is None or not len(items):
            return out
        items = list(items)
        # a block of spans at a time: each span's row is computed alone, so the blocks give
        # the same probabilities as one call, in a fraction of the memory
        proba = np.vstack(
            [
                self.technique.predict_proba(items[i : i + TECHNIQUE_BLOCK])
                for i in range(0, len(items), TECHNIQUE_BLOCK)
            ]
        )
        column = {t: j for j, t in enumerate(self.techniques)}
        for k, label in enumerate(self.technique.classes_):
            out[:, column[label]] = proba[:, k]
        return out

    def technique_proba(self, text: str, spans: Sequence[tuple[int, int]]) -> np.ndarray:
        """(n_spans, n_techniques) probabilities, columns in `techniques` order."""
        return self._technique_matrix(self._items(text, spans))

    def classify_spans(self, text: str, spans: Sequence[tuple[int, int]]) -> list[str]:
        """The technique of each given span (a span listed k times gets its top k labels)."""
        if not len(spans):
            return []
        if self.technique is None:
            raise BadInput(
                "this model has no technique classifier (no span-annotated training data)"
            )
        items = self._items(text, spans)
        return list(assign_labels(items, self.technique_proba(text, spans), self.techniques))

    # ---- files ----------------------------------------------------------------------
    def save(self, out_dir: str | Path) -> None:
        """Write skops files, `model.json` (with their sha256) and the model card into out_dir."""
        import skops.io as sio

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        files: dict[str, str] = {}
        placed: dict[str, list[dict]] = {}
        by_content: dict[tuple, str] = {}  # one file for arrays held twice (word vectors)
        for key, name in COMPONENT_FILES.items():
            component = self._component(key)
            if component is None:
                continue
            with arrays.detached(component) as found:
                sio.dump(component, out_dir / name, compression=zipfile.ZIP_DEFLATED)
            files[name] = file_sha256(out_dir / name)
            for path, array in found:
                content = arrays.content_key(array)
                npy = by_content.get(content)
                if npy is None:
                    npy = by_content[content] = f"{key}.{len(by_content)}.npy"
                    np.save(out_dir / npy, np.asarray(array), allow_pickle=False)
                    files[npy] = file_sha256(out_dir / npy)
                placed.setdefault(key, []).append({"path": path, "file": npy})
        self.info["files"] = files
        self.info["arrays"] = placed
        self.info["format_version"] = FORMAT_VERSION if placed else 1
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:8]
        self.info["model_version"] = f"annotate-{self.info.get('name', 'model')}-{digest}"
        (out_dir / MODEL_JSON).write_text(
            json.dumps(self.info, indent=2, ensure_ascii=False) + "\n"
        )
        from annotate.learn.card import model_card

        (out_dir / MODEL_CARD).write_text(model_card(self.info), encoding="utf-8")

    def _component(self, key: str):
        return {
            "tagger": self.tagger,
            "technique": self.technique,
            "frames": self.frame_classifier,
            "propaganda": self.propaganda,
        }[key]

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Open a model directory safely (explicit trusted types, hashes, label config)."""
        import skops.io as sio

        path = Path(path)
        info_path = path / MODEL_JSON
        info = read_model_info(path)
        if not isinstance(info.get("files"), dict):
            raise BadInput("model.json has no 'files' table", info_path)
        schema = load_schema()
        if info.get("label_config_sha256") != schema.sha256:
            raise BadInput(
                f"model was trained for another label config (sha256 "
                f"{str(info.get('label_config_sha256'))[:12]}, current {schema.path} is "
                f"{schema.sha256[:12]}); retrain it with `annotate train`",
                path,
            )
        components: dict[str, Any] = {}
        for key, name in COMPONENT_FILES.items():
            expected = info["files"].get(name)
            if expected is None:
                continue
            file = path / name
            if not file.is_file():
                raise BadInput(f"model file {name} listed in model.json is missing", path)
            if file_sha256(file) != expected:
                raise BadInput(
                    f"{name} does not match the sha256 in model.json (modified or corrupt); "
                    "refusing to load it",
                    path,
                )
            try:
                untrusted = [
                    t for t in sio.get_untrusted_types(file=file) if t not in TRUSTED_TYPES
                ]
                if untrusted:
                    raise BadInput(
                        f"{name} contains types this toolkit does not trust: "
                        f"{', '.join(sorted(untrusted)[:5])}; refusing to load it",
                        path,
                    )
                component = sio.load(file, trusted=TRUSTED_TYPES)
            except BadInput:
                raise
            except Exception as exc:  # skops raises UntrustedTypesFoundException and others
                raise BadInput(f"cannot load {name} safely: {exc}", path) from None
            expected_type = COMPONENT_TYPES[key]
            if type(component) is not expected_type:
                raise BadInput(
                    f"{name} holds a {type(component).__name__}, expected "
                    f"{expected_type.__name__}; refusing to use it",
                    path,
                )
            components[key] = component
        _attach_arrays(path, info, components)
        model = cls(info, **components)
        model.path = path  # where it came from: workers may load it themselves (shared pages)
        return model


def _attach_arrays(path: Path, info: dict[str, Any], components: dict[str, Any]) -> None:
    """Memory-map each `.npy` listed under `arrays` (sha256 checked) into its component."""
    placed = info.get("arrays") or {}
    if not isinstance(placed, dict):
        raise BadInput("model.json's 'arrays' is not a table", path / MODEL_JSON)
    opened: dict[str, np.ndarray] = {}
    for key, entries in placed.items():
        component = components.get(key)
        for entry in entries:
            npy = entry.get("file") if isinstance(entry, dict) else None
            if component is None or not isinstance(npy, str) or npy not in info["files"]:
                raise BadInput(f"model.json lists an array of {key} it cannot place", path)
            if npy not in opened:
                file = path / npy
                if not file.is_file():
                    raise BadInput(f"model file {npy} listed in model.json is missing", path)
                if file_sha256(file) != info["files"][npy]:
                    raise BadInput(
                        f"{npy} does not match the sha256 in model.json (modified or corrupt); "
                        "refusing to load it",
                        path,
                    )
                try:
                    opened[npy] = np.load(file, mmap_mode="r", allow_pickle=False)
                except ValueError as exc:
                    raise BadInput(f"cannot load {npy} safely: {exc}", path) from None
            try:
                if arrays.get(component, entry["path"]) is not None:
                    raise KeyError(npy)
                arrays.attach(component, entry["path"], opened[npy])
            except (KeyError, IndexError, TypeError, ValueError):
                raise BadInput(
                    f"{npy} does not fit {COMPONENT_FILES[key]} (model.json 'arrays'); "
                    "refusing to load it",
                    path,
                ) from None

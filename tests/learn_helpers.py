"""Small corpora from ../shared/data and a fast training config, for the model tests."""

from __future__ import annotations

from pathlib import Path

from annotate.corpus import write_corpus
from annotate.formats.ptc import ptc_rows
from annotate.formats.semeval2023 import semeval2023_rows

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"

FAST_CONFIG = """
name = "test"
[tagger]
n_features = 262144
sentence_chars = false
word_vectors = true
vector_clusters = [16, 64]
average = true
span_weight_power = 0.5
epochs = 5
cv_folds = 3
thresholds = [0.2, 0.3, 0.4]
max_gaps = [0, 2]
[technique]
cv_folds = 2
[frames]
word_vectors = true
cv_folds = 3
threshold_grid = [0.3, 0.5]
"""


def small_corpora(root: Path, n: int = 20) -> tuple[Path, Path]:
    """The first `n` PTC articles (spans) and `n` SemEval-2023 articles (frames) as corpora."""
    rows, _ = ptc_rows(DATA / "ptc" / "train-articles", DATA / "ptc" / "train-labels-task-tc")
    ptc = root / "ptc"
    write_corpus(rows[:n], ptc, source={"format": "ptc", "subset": n})
    rows, _ = semeval2023_rows(
        DATA / "semeval2023" / "articles-subtask-1-2",
        frames=DATA / "semeval2023" / "train-labels-subtask-2.txt",
    )
    sem = root / "semeval2023"
    write_corpus(rows[:n], sem, source={"format": "semeval2023", "subset": n})
    return ptc, sem


def fast_config(root: Path) -> Path:
    path = root / "fast.toml"
    path.write_text(FAST_CONFIG, encoding="utf-8")
    return path


TINY_CONFIG = """
name = "tiny"
seed = 0
[tagger]
word_vectors = true
vector_words = 20000
vector_clusters = [16, 64]
n_features = 65536
epochs = 3
cv_folds = 2
thresholds = [0.1, 0.2]
max_gaps = [0, 4]
[technique]
cv_folds = 0
[frames]
cv_folds = 2
min_df = 1
threshold_grid = [0.3, 0.5]
"""


def tiny_semeval_model(root: Path) -> Path:
    """A real model trained on 20 SemEval-2023 articles (spans + frames) in root/model.

    Also writes root/train (those 20) and root/test (10 other such articles + 3 spans-only).
    """
    from annotate.learn.train import train

    sem = DATA / "semeval2023"
    rows, _ = semeval2023_rows(
        sem / "articles-subtask-3",
        frames=sem / "train-labels-subtask-2.txt",
        spans=sem / "labels-subtask-3-spans",
        label_map=REPO / "docs" / "label-maps" / "semeval2023-to-ptc.tsv",
    )
    both = [r for r in rows if len(r["annotated"]) == 2]
    spans_only = [r for r in rows if r["annotated"] == ["technique"]]
    write_corpus(both[:20], root / "train", source={"test": "tiny"})
    write_corpus(both[20:30] + spans_only[:3], root / "test", source={"test": "tiny"})
    (root / "tiny.toml").write_text(TINY_CONFIG)
    train([root / "train"], root / "model", config=root / "tiny.toml", progress=lambda m: None)
    return root / "model"

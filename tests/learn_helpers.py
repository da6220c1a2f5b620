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
epochs = 5
cv_folds = 3
thresholds = [0.2, 0.3, 0.4]
max_gaps = [0, 2]
[technique]
cv_folds = 2
[frames]
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

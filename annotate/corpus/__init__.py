"""The Corpus (CONTRACTS.md section 4): a typed `datasets` dataset plus `corpus.json`.

`store` reads and writes corpora (and fills what other tools' datasets leave out); `policy`
merges a row's annotators into the labels train, evaluate and audit use. Import from here.
"""

from annotate.corpus.policy import Merged, merge
from annotate.corpus.store import (
    GOLD,
    INFO_FILE,
    LEGACY_DATA_DIR,
    NO_LINK,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    annotators_of,
    check_row,
    corpus_info,
    corpus_sha256,
    dataset_dir,
    features,
    iter_rows,
    read_corpus,
    row,
    span,
    write_corpus,
)

__all__ = [
    "GOLD",
    "INFO_FILE",
    "LEGACY_DATA_DIR",
    "NO_LINK",
    "REQUIRED_FIELDS",
    "SCHEMA_VERSION",
    "Merged",
    "annotators_of",
    "check_row",
    "corpus_info",
    "corpus_sha256",
    "dataset_dir",
    "features",
    "iter_rows",
    "merge",
    "read_corpus",
    "row",
    "span",
    "write_corpus",
]

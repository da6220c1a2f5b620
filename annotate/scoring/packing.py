"""The pack format: what pass 1 learns about a document, as bytes (the spool holds these)."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotate.repeats import Occurrence, SignedDoc, sign_documents

_HEADER = struct.Struct("<IIIII")
_OCC_INTS = 5


@dataclass
class PackedDoc(SignedDoc):
    """A signed document read back from its pack, with the input's other fields (`meta`)."""

    meta: dict[str, Any] | None = None


def pack_document(
    doc_id: str,
    text: str,
    ids: np.ndarray,
    within: list[Occurrence],
    meta: Mapping[str, Any] | None = None,
) -> bytes:
    """One document's pass-1 result as bytes: a header (lengths of the id, text and meta in
    bytes, number of words and of own occurrences), the id, text and meta (JSON) in UTF-8, the
    word ids (uint32), the own occurrences' word positions (int64 x 5) and similarities
    (float64)."""
    id_bytes = doc_id.encode("utf-8", "surrogatepass")
    text_bytes = text.encode("utf-8", "surrogatepass")
    meta_bytes = (
        b"" if meta is None else json.dumps(meta, ensure_ascii=False, default=str).encode("utf-8")
    )
    ints = np.array(
        [(o.start, o.end, o.of_doc, o.of_start, o.of_end) for o in within], dtype=np.int64
    )
    sims = np.array([o.similarity for o in within], dtype=np.float64)
    return b"".join(
        (
            _HEADER.pack(len(id_bytes), len(text_bytes), len(meta_bytes), len(ids), len(within)),
            id_bytes,
            text_bytes,
            meta_bytes,
            np.ascontiguousarray(ids, dtype=np.uint32).tobytes(),
            ints.tobytes(),
            sims.tobytes(),
        )
    )


def unpack_documents(buf: bytes | memoryview, first_index: int) -> list[PackedDoc]:
    """Documents packed back to back (`pack_document`), numbered from `first_index`."""
    out = []
    view = memoryview(buf)
    pos, index = 0, first_index
    while pos < len(buf):
        n_id, n_text, n_meta, n_words, n_occ = _HEADER.unpack_from(buf, pos)
        pos += _HEADER.size
        doc_id = str(view[pos : pos + n_id], "utf-8", "surrogatepass")
        pos += n_id
        text = str(view[pos : pos + n_text], "utf-8", "surrogatepass")
        pos += n_text
        meta = json.loads(str(view[pos : pos + n_meta], "utf-8")) if n_meta else None
        pos += n_meta
        ids = np.frombuffer(buf, dtype=np.uint32, count=n_words, offset=pos)
        pos += 4 * n_words
        within = []
        if n_occ:
            ints = np.frombuffer(buf, dtype=np.int64, count=n_occ * _OCC_INTS, offset=pos)
            pos += 8 * n_occ * _OCC_INTS
            sims = np.frombuffer(buf, dtype=np.float64, count=n_occ, offset=pos)
            pos += 8 * n_occ
            rows = ints.reshape(n_occ, _OCC_INTS).tolist()
            within = [Occurrence(*row, sim) for row, sim in zip(rows, sims.tolist(), strict=True)]
        out.append(PackedDoc(index, doc_id, text, ids, within, meta))
        index += 1
    return out


def batch_signatures(
    docs: Sequence[tuple[str, str, Mapping[str, Any] | None]], first_index: int
) -> tuple[tuple[bytes, np.ndarray, bool], np.ndarray, np.ndarray]:
    """Pass 1 of a batch of (id, text, meta) (`repeats.sign_documents`), packed: ((the packed
    documents as one bytes object, packed length of each, whether any has meta), all anchors
    concatenated (uint32), number of anchors of each)."""
    signed, batch_anchors, n_anchors = sign_documents([(d[0], d[1]) for d in docs], first_index)
    packed = [
        pack_document(s.id, s.text, s.ids, s.within, meta)
        for s, (_, _, meta) in zip(signed, docs, strict=True)
    ]
    sizes = np.fromiter(map(len, packed), dtype=np.int64, count=len(packed))
    with_meta = any(d[2] is not None for d in docs)
    return (b"".join(packed), sizes, with_meta), batch_anchors, n_anchors

"""The technique classifier's span fields, computed once per document (`span_fields`), are the
per-span computation's, bit for bit (issue #18).

`test_speed_identical.reference_fields` is the per-span code the speed-up replaced. Its matrix
is compared with `SpanFeatures.transform`'s on real PTC articles' candidate runs and on
hand-made inputs where a document-level tokenisation could differ from `findall` of each
slice: every (start, end) of short texts (so every span and context boundary that cuts a
word), 'İ' (lower-cased to two characters), 'Σ' (final sigma depends on its neighbours),
accents, quotes, marks, text ends, empty spans and texts, repeated phrases, offsets outside
the text, several context widths and a lexicon.
"""

from __future__ import annotations

import copy
import random
import sys

import numpy as np
import pytest
from test_speed_identical import (  # noqa: F401 (model, model_dir, texts: its fixtures)
    ReferenceSpanFeatures,
    assert_same_csr,
    candidate_items,
    model,
    model_dir,
    reference_fields,
    texts,
)

from annotate.learn import span_fields
from annotate.learn.technique import SpanFeatures

ODD = [
    ". a. b .  c",  # first: the batch's first document, at global offset 0
    "İstanbul'da İİ ıI Σ.",
    "ΟΔΟΣ.Α ΣΟΦΟΣ σοφός Σ ΑΣ. ΑΣΑ Α'Σ x",
    "He said \"no\"? “Really”! 'Yes.' . No.\nNew. line…",
    "Café naïve RÉSUMÉ ǅemal ǈ ß ẞ ﬁ Ⅻ 😀𝐀𝐁 x\u0301y",
    "the cat the cat the cat. The cat the cat? the the the the!",
    "internationalization " * 6 + "supercalifragilistic",
    "tab\tsep\u00a0nbsp\u2003em   end?  \n\n  !  ",
    "   ?  ! x",
    "_a_ 3.14 don't ’tis dogs' (x)—y",
    "a",
    "?",
    " ",
    "",
]


def every_span(text: str) -> list[tuple[str, int, int]]:
    return [(text, s, e) for s in range(len(text) + 1) for e in range(s, len(text) + 1)]


def outside(text: str) -> list[tuple[str, int, int]]:
    """Offsets that are not within the text (the per-span path keeps Python's slicing)."""
    if len(text) < 8:  # text[start - 1] would raise, as it does for a start past the end
        return []
    return [(text, -3, 2), (text, 4, 1), (text, 0, len(text) + 7), (text, -1, -1)]


def random_spans(pool: list[str], n: int, seed: int = 0) -> list[tuple[str, int, int]]:
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        text = rng.choice(pool)
        start = rng.randrange(len(text) + 1)
        items.append((text, start, min(len(text), start + rng.choice([0, 1, 3, 8, 40, 300]))))
    return items


def fitted(items, width: int, lexicons=None) -> tuple[SpanFeatures, ReferenceSpanFeatures]:
    features = SpanFeatures(context_words=width, lexicons=lexicons).fit(items)
    reference = copy.copy(features)
    reference.__class__ = ReferenceSpanFeatures
    return features, reference


@pytest.fixture(scope="module")
def adversarial(texts) -> list[tuple[str, int, int]]:  # noqa: F811
    items = [item for text in ODD for item in every_span(text) + outside(text)]
    # the same texts glued together: spans and windows across what were text ends
    glued = "".join(ODD[:1] + ODD[2:])  # without 'İ'
    items += every_span(glued[:90]) + random_spans([glued, "".join(ODD)], 3000)
    return items + random_spans(texts, 3000)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_transform_is_the_per_span_reference_on_odd_spans(adversarial, texts, width):  # noqa: F811
    lexicons = {"opinion": ["the", "cat", "no", "bad", "good", "i"], "empty": []}
    features, reference = fitted(adversarial, width, lexicons)
    assert "lex=opinion" in features.extras_.vocabulary_
    assert_same_csr(features.transform(adversarial), reference.transform(adversarial))
    # and one document at a time, as small scoring batches send them: each text is then
    # the batch's first, at global offset 0
    for text in ODD[:-1]:
        one = every_span(text) + outside(text)
        assert_same_csr(features.transform(one), reference.transform(one))


def test_a_start_past_the_end_raises_as_it_did(adversarial):
    features, reference = fitted(adversarial, 2)
    for f in (features, reference):
        with pytest.raises(IndexError):
            f.transform([(ODD[0], len(ODD[0]) + 2, len(ODD[0]) + 5)])


def test_fit_fields_are_the_per_span_reference(adversarial):
    features = SpanFeatures(context_words=3, lexicons={"opinion": ["the", "cat"]})
    assert features._fields(adversarial) == reference_fields(features, adversarial)


def test_transform_is_the_reference_on_candidate_runs(model, texts):  # noqa: F811
    items = candidate_items(model, texts)
    features = model.technique.features_
    reference = copy.copy(features)
    reference.__class__ = ReferenceSpanFeatures
    assert_same_csr(features.transform(items), reference.transform(items))
    for f in (features, reference):  # no spans: refused by the TF-IDF steps, as before
        with pytest.raises(ValueError):
            f.transform([])


def test_equal_texts_that_are_different_objects():
    a = "the cat sat. The cat sat."
    b = "".join(list(a))  # equal, another object
    assert a == b and a is not b
    items = [(a, 0, 7), (b, 0, 7), (a, 13, 20), (b, 4, 7)]
    features, reference = fitted(items * 3 + every_span(a), 2)
    assert_same_csr(features.transform(items), reference.transform(items))


def test_lower_casing_maps_one_character_to_one_except_dotted_capital_i():
    """What `Words.exact` relies on: 'İ' is the one character whose lower case is longer, and
    'Σ' the one whose lower case depends on its neighbours (tested by the odd texts)."""
    longer = [c for c in range(sys.maxunicode + 1) if len(chr(c).lower()) != 1]
    assert longer == [0x130]
    assert not span_fields.document_words(span_fields.batch_of([("İ x", 0, 1)]).docs).exact[0]
    assert not span_fields.document_words(span_fields.batch_of([("ΑΣ", 0, 1)]).docs).exact[0]


def test_words_of_a_document_are_findall(texts):  # noqa: F811
    batch = span_fields.batch_of([(t, 0, 0) for t in ODD + texts[:5]])
    w = span_fields.document_words(batch.docs)
    assert w.words == [w.lower[a:b] for a, b in zip(w.starts, w.ends, strict=True)]
    for d, text in enumerate(batch.docs.texts):
        if w.exact[d]:
            assert w.document(batch.docs, d) == span_fields.WORD_RE.findall(text.lower())
    assert np.all(np.diff(w.starts) > 0)

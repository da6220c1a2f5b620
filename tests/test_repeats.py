"""Repeated-passage detector: the seed article read by hand, planted repeats, no false alarms."""

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotate.documents import Document, read_text_file
from annotate.repeats import (
    MIN_WORDS,
    CrossIndex,
    anchors,
    repeated_passages,
    repeats_within,
    word_ids,
)

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_62e5311f9cbaaa12.txt"
FIXTURE = ROOT / "tests" / "fixtures" / "seed_repeats.json"
PTC = ROOT.parent / "shared" / "data" / "ptc" / "train-articles"
WORD = re.compile(r"\w+")

needs_ptc = pytest.mark.skipif(not PTC.is_dir(), reason="../shared/data/ptc not present")


def spans(reps):
    return sorted((r.start, r.end) for r in reps)


def verbatim_runs(text: str) -> list[tuple[int, int]]:
    """Oracle, independent of the detector: character spans of every maximal verbatim run of
    >= 8 words occurring twice in `text` (quadratic, brute force over word positions)."""
    ms = list(WORD.finditer(text))
    w = [m.group().lower() for m in ms]
    n = len(w)
    covered: set[tuple[int, int]] = set()
    for i in range(n):
        for j in range(i + 1, n):
            if w[i] != w[j] or (i > 0 and w[i - 1] == w[j - 1]):
                continue  # not the start of a maximal run
            k = 0
            while j + k < n and i + k < j and w[i + k] == w[j + k]:
                k += 1
            if k >= MIN_WORDS:
                covered.add((i, i + k))
                covered.add((j, j + k))
    return sorted((ms[a].start(), ms[b - 1].end()) for a, b in covered)


def words(text: str) -> list[str]:
    return WORD.findall(text)


def article(n: int) -> str:
    return read_text_file(sorted(PTC.glob("article*.txt"))[n])


# ---- the seed article -----------------------------------------------------------------------


def test_seed_article_repeats_match_the_hand_made_fixture():
    text = read_text_file(SEED)
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))["occurrences"]
    found = repeats_within(text, "seed")
    assert [(r.start, r.end, r.of_start, r.of_end) for r in found] == [
        (o["start"], o["end"], o["of"]["start"], o["of"]["end"]) for o in fixture
    ]
    for r in found:
        assert r.text == text[r.start : r.end]
        assert r.of_id == "seed"
        assert r.score == 1.0


def test_seed_fixture_agrees_with_a_brute_force_verbatim_search():
    text = read_text_file(SEED)
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))["occurrences"]
    assert verbatim_runs(text) == sorted((o["start"], o["end"]) for o in fixture)


def test_seed_splice_is_found():
    text = read_text_file(SEED)
    splice = text.index("A very promising development took place", text.index("Since Russia"))
    found = repeats_within(text)
    assert any(r.start == splice for r in found)
    # the sentence cut before the splice is a repeat of its own (ending mid-sentence)
    assert any(r.text.endswith("have both been victimized by") for r in found)


# ---- planted repeats ------------------------------------------------------------------------

FILLER = (
    "Quarterly rainfall figures for the northern valleys arrived late again this spring. "
    "Farmers said the irrigation board had promised new pumps but none were delivered. "
    "A spokesperson blamed supply problems at a factory overseas and a shortage of drivers. "
    "Meanwhile the regional council debated a proposal to rename the old harbour road. "
    "Several residents wrote letters opposing the plan, citing the cost of new signs. "
)
OTHER = "In other news, the library extended its opening hours on weekends through August."
PASSAGE = (
    "The committee concluded that the bridge inspection schedule had been ignored for "
    "nearly a decade, leaving engineers without reliable data on corrosion, cracking and "
    "load limits across dozens of rural crossings that school buses use every morning"
)


def edit_every(passage: str, every: int, seed: int = 0) -> str:
    """Change one word in every `every` words (substitution, or alternately insert/delete)."""
    rng = random.Random(seed)
    out = []
    for i, w in enumerate(passage.split()):
        if i % every == every // 2:
            kind = rng.choice(["sub", "ins", "del"])
            if kind == "sub":
                out.append("zorblax")
            elif kind == "ins":
                out.extend([w, "quux"])
            continue
        out.append(w)
    return " ".join(out)


def test_verbatim_repeat_within_a_document():
    text = FILLER + PASSAGE + ". " + OTHER + " " + PASSAGE + "."
    found = repeats_within(text, "d")
    first = text.index(PASSAGE)
    second = text.index(PASSAGE, first + 1)
    assert spans(found) == [(first, first + len(PASSAGE)), (second, second + len(PASSAGE))]
    assert found[0].of_start == second and found[1].of_start == first


@pytest.mark.parametrize("every", [5, 6, 7])
def test_edited_copy_is_found(every):
    edited = edit_every(PASSAGE, every, seed=every)
    # no 8 words in a row survive unchanged
    assert not any(
        " ".join(words(PASSAGE)[i : i + 8]).lower() in " ".join(words(edited)).lower()
        for i in range(len(words(PASSAGE)) - 7)
    )
    text = PASSAGE + ". " + FILLER + edited + ". " + OTHER
    found = repeats_within(text)
    assert len(found) == 2
    a, b = found
    # each occurrence covers nearly all of its passage
    e0 = text.index(edited)
    # boundaries within a few words of the passage (an edit next to an end may trim it)
    assert a.start <= 30 and a.end >= len(PASSAGE) - 30
    assert e0 <= b.start <= e0 + 30 and b.end >= e0 + len(edited) - 30
    assert 0.7 <= b.score < 1.0


def test_passage_cut_mid_sentence_and_spliced_into_another():
    other = "Officials described the tender process as transparent, fair and open to all bidders"
    spliced = "the bridge inspection schedule had been ignored for nearly a decade Officials " + (
        "described the tender process as transparent, fair and"
    )
    text = PASSAGE + ". " + FILLER + other + ". " + OTHER + spliced + " maybe not."
    found = repeats_within(text)
    got = {r.text for r in found}
    assert "the bridge inspection schedule had been ignored for nearly a decade" in got
    assert "Officials described the tender process as transparent, fair and" in got
    assert len(found) == 4  # each piece twice


def test_no_repeats_in_text_sharing_only_short_phrases():
    text = (
        "At the end of the day the mayor conceded that turnout mattered more than slogans. "
        "Critics argued at the end of the day budgets, not speeches, decide elections. "
        "In the wake of the storm, highway crews cleared one of the most important roads. "
        "Volunteers arrived in the wake of the flood; later, one of the most senior doctors. "
    )
    assert repeats_within(text) == []
    assert repeats_within("") == []
    assert repeats_within("short text, short text, short text") == []


def test_phrase_of_seven_words_is_not_a_repeat_but_eight_is():
    seven = "alpha bravo charlie delta echo foxtrot golf"
    assert repeats_within(f"{seven} one two. {seven} three four.") == []
    eight = seven + " hotel"
    assert len(repeats_within(f"{eight} one two. {eight} three four.")) == 2


RUN8 = "officials confirmed that the shipment left the harbour"


def substituted(run: str, k: int, word: str = "reportedly") -> str:
    w = run.split()
    return " ".join(w[:k] + [word] + w[k + 1 :])


@pytest.mark.parametrize("k", range(1, 7))
def test_eight_word_run_with_one_word_substituted_mid_run_within_a_document(k):
    # section 10: one changed word in eight is "nearly so"; the neighbours differ
    changed = substituted(RUN8, k)
    text = FILLER + RUN8 + " on Tuesday. " + OTHER + " Yesterday " + changed + " again, he said."
    found = repeats_within(text, "d")
    assert [r.text for r in found] == [RUN8, changed]
    assert [r.score for r in found] == [0.875, 0.875]
    assert found[0].of_start == found[1].start and found[1].of_start == found[0].start


def found(result: dict, doc: str) -> list[tuple[str, str, float]]:
    return [(r.text, r.of_id, r.score) for r in result[doc]]


# Across documents, a pair of documents is aligned when they share two winnowed anchors. An
# 8-10-word run with one word changed shares at most one, so in these tests the two documents
# also share a verbatim passage, far from the run (with every 4-word shingle as an anchor,
# repeats 1.3 found the run alone, at 2.3 times the document pairs to align).


def pair_sharing_a_passage(run: str, changed: str) -> dict:
    """`run` in one document, `changed` in another; both also open with PASSAGE."""
    return repeated_passages(
        docs(
            PASSAGE + ". " + FILLER + run + " on Tuesday.",
            PASSAGE + ". " + OTHER + " Yesterday " + changed + " again, he said.",
        )
    )


def test_ten_word_run_with_one_word_substituted_across_two_documents():
    run = RUN8 + " before dawn"
    changed = substituted(run, 5, "departed")
    result = pair_sharing_a_passage(run, changed)
    assert (run, "d1", 0.9) in found(result, "d0")
    assert (changed, "d0", 0.9) in found(result, "d1")
    assert len(result["d0"]) == len(result["d1"]) == 2  # the run and the passage


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_eight_word_run_with_one_word_substituted_across_two_documents(k):
    changed = substituted(RUN8, k)
    result = pair_sharing_a_passage(RUN8, changed)
    assert (RUN8, "d1", 0.875) in found(result, "d0")
    assert (changed, "d0", 0.875) in found(result, "d1")


def test_stretch_over_a_changed_word_needs_a_matching_word_after_it():
    # six shared words, one changed, one shared again: 8 words, 7 the same -> a repeat
    six = "officials confirmed that the shipment left"
    found = repeats_within(f"Then {six} early in May. Now {six} late in June.")
    assert [r.text for r in found] == [f"{six} early in", f"{six} late in"]
    # six shared words, then nothing shared: no repeat
    assert repeats_within(f"Then {six} early this May. Now {six} late in June.") == []


@pytest.mark.parametrize("k", [0, 7])
def test_shared_seven_word_phrase_is_not_a_repeat(k):
    # the changed word first or last of the eight leaves a shared 7-word phrase: not a repeat
    changed = substituted(RUN8, k)
    text = FILLER + RUN8 + " on Tuesday. " + OTHER + " Yesterday " + changed + " again, he said."
    assert repeats_within(text) == []
    seven = " ".join(RUN8.split()[1:] if k == 0 else RUN8.split()[:7])
    result = repeated_passages(
        docs(FILLER + "Yesterday " + seven + " again.", OTHER + " Then " + seven + " on Tuesday.")
    )
    assert result == {"d0": [], "d1": []}


def test_case_and_punctuation_do_not_matter():
    a = "The Minister's Speech, delivered on Monday, was REPEATED almost word for word"
    b = "the minister s speech delivered on monday -- was repeated almost word for word"
    found = repeats_within(a + ". Something else entirely here. " + b)
    assert len(found) == 2 and found[1].text == b


# ---- across documents -----------------------------------------------------------------------


def docs(*texts: str) -> list[Document]:
    return [Document(f"d{i}", t) for i, t in enumerate(texts)]


def test_cross_document_passage_points_to_the_earlier_document():
    result = repeated_passages(docs(FILLER + PASSAGE + ".", "Intro. " + PASSAGE + " outro.", OTHER))
    (r0,), (r1,), none = result["d0"], result["d1"], result["d2"]
    assert none == []
    assert r1.of_id == "d0" and r0.of_id == "d1"
    assert r1.text == PASSAGE and r0.text == PASSAGE
    assert (r1.of_start, r1.of_end) == (r0.start, r0.end)


@needs_ptc
def test_whole_article_copies_across_documents():
    a, b, c = article(0), article(1), article(2)
    result = repeated_passages(docs(a, b, c, b, a))
    for copy, original, text in (("d3", "d1", b), ("d4", "d0", a)):
        reps = result[copy]
        assert {r.of_id for r in reps} <= {original, copy}
        assert sum(r.end - r.start for r in reps) >= 0.9 * len(text.strip())
        # the original points to its copy
        assert any(r.of_id == copy for r in result[original])
    assert all(r.of_id == "d2" for r in result["d2"])


@needs_ptc
def test_edited_copy_across_documents():
    a = article(3)
    body = " ".join(words(a)[:200])
    edited = edit_every(body, 6, seed=1)
    result = repeated_passages(docs(body, article(4), edited))
    hits = [r for r in result["d2"] if r.of_id == "d0"]
    assert hits
    assert sum(r.end - r.start for r in hits) >= 0.9 * len(edited)


@needs_ptc
def test_distinct_real_articles_share_no_long_passage():
    texts = [article(i) for i in range(5, 15)]
    result = repeated_passages(docs(*texts))
    # the oracle for verbatim cross-document runs: any 8-word shingle in two documents?
    shingles: dict[str, set[int]] = {}
    for i, t in enumerate(texts):
        w = [x.lower() for x in words(t)]
        for j in range(len(w) - 7):
            shingles.setdefault(" ".join(w[j : j + 8]), set()).add(i)
    shared_docs = {i for s in shingles.values() if len(s) > 1 for i in s}
    for i in range(len(texts)):
        cross = [r for r in result[f"d{i}"] if r.of_id != f"d{i}"]
        assert bool(cross) == (i in shared_docs)


def test_boilerplate_in_many_documents_stays_bounded():
    footer = (
        "Subscribe to our newsletter for the latest updates on politics, business, science "
        "and culture delivered straight to your inbox every single morning"
    )
    rng = random.Random(7)
    vocab = FILLER.split()
    # two words of its own before the footer: after one changed word a shared one (the
    # bodies draw from one vocabulary) would make a one-substitution near-copy (section 10)
    bodies = [" ".join(rng.sample(vocab, 12)) + f" ref{i} item{i}. " for i in range(120)]
    result = repeated_passages(docs(*(b + footer for b in bodies)))
    for i in range(120):
        reps = result[f"d{i}"]
        assert len(reps) == 1, (i, reps)
        assert reps[0].text == footer
        assert reps[0].of_id != f"d{i}"


def test_cross_index_spills_to_disk_and_gives_the_same_partners():
    texts = [FILLER + f" item {i} " + PASSAGE for i in range(30)] + [FILLER[:50]] * 3
    ids = [word_ids(t) for t in texts]
    small, big = CrossIndex(spill_at=50, buckets=4), CrossIndex()
    for i, w in enumerate(ids):
        small.add(i, anchors(w))
        big.add(i, anchors(w))
    assert small.partners() == big.partners()


# ---- properties -----------------------------------------------------------------------------

VOCAB = ["the", "a", "war", "Peace", "talks", "é", "über", "x1", "said", "they", "Russia", "9"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(VOCAB), min_size=0, max_size=60),
    st.lists(st.sampled_from([" ", ", ", ". ", "\n", " -- ", "’"]), min_size=1, max_size=5),
    st.integers(min_value=0, max_value=40),
)
def test_spans_are_valid_word_aligned_and_match_text(ws, seps, cut):
    text = "".join(w + seps[i % len(seps)] for i, w in enumerate(ws))
    text = text + text[cut:]  # plenty of repeats, some cut mid-word
    result = repeated_passages([Document("p", text), Document("q", text[::2])])
    for doc_id, t in (("p", text), ("q", text[::2])):
        for r in result[doc_id]:
            assert 0 <= r.start < r.end <= len(t)
            assert r.text == t[r.start : r.end]
            assert WORD.fullmatch(t[r.start]) or re.match(r"\w", t[r.start])
            assert r.start == 0 or not re.match(r"\w", t[r.start - 1])
            assert r.end == len(t) or not re.match(r"\w", t[r.end])
            assert re.match(r"\w", t[r.end - 1])
            assert len(WORD.findall(r.text)) >= MIN_WORDS
            assert 0.0 < r.score <= 1.0
            of_text = text if r.of_id == "p" else text[::2]
            assert 0 <= r.of_start < r.of_end <= len(of_text)
            assert (r.of_id, r.of_start) != (doc_id, r.start)


def test_tandem_and_degenerate_texts_stay_fast():
    import time

    for text in (
        "word " * 20000,
        "a b " * 10000,
        ("one two three four five six seven eight. " * 2000),
    ):
        t0 = time.process_time()
        found = repeats_within(text)
        assert time.process_time() - t0 < 5
        for r in found:
            assert r.text == text[r.start : r.end]
            assert (r.start, r.end) != (r.of_start, r.of_end)
        covered = sum(r.end - r.start for r in found)
        assert covered >= 0.9 * len(text.strip())


def test_short_edited_copies_across_documents_are_all_found():
    # 13-word passages whose copies differ in the middle word: two verbatim runs of 6 words.
    # The cross-document index must propose every such pair (any 4 verbatim words share an
    # anchor, and a partner needs two), and the alignment must bridge the change.
    rng = random.Random(3)

    def fresh(n):
        return [
            "".join(rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(4))
            for _ in range(n)
        ]

    texts, passages = [], []
    for _ in range(12):
        p = fresh(13)
        changed = p[:6] + fresh(1) + p[7:]
        passages.append((" ".join(p), " ".join(changed)))
        texts.append(" ".join(fresh(40)) + ". " + " ".join(p) + ". " + " ".join(fresh(40)))
        texts.append(" ".join(fresh(30)) + ". " + " ".join(changed) + ". " + " ".join(fresh(50)))
    result = repeated_passages(docs(*texts))
    for k, (original, changed) in enumerate(passages):
        a, b = f"d{2 * k}", f"d{2 * k + 1}"
        assert [(r.text, r.of_id) for r in result[a]] == [(original, b)]
        assert [(r.text, r.of_id) for r in result[b]] == [(changed, a)]
        assert result[b][0].score == round(12 / 13, 4)


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from(list("aZ9_ \n.,-’İıΣσςßé😀𝐀𝟗٣") + ["\u0301", "\ud800"]),
            st.characters(),
        ),
        max_size=60,
    )
)
def test_numpy_tokens_match_the_regex_definition_of_a_word(text):
    from annotate.repeats import tokens

    ids, starts, ends = tokens(text)
    ms = list(WORD.finditer(text))
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [m.span() for m in ms]
    # ids are a function of the lower-cased word: equal for equal words in any other text
    for i, m in zip(ids.tolist(), ms, strict=True):
        alone = tokens("(" + m.group().lower() + ")")[0].tolist()
        assert alone == [i] or len(m.group().lower()) != len(m.group())


def test_long_texts_are_hashed_in_pieces_with_the_same_result(monkeypatch):
    from annotate import repeats
    from annotate.repeats import words

    text = read_text_file(SEED) * 3
    ids, starts, ends = repeats.tokens(text)
    shingles = repeats.shingle_hashes(ids)
    monkeypatch.setattr(words, "HASH_CHUNK", 97)  # pieces of 97 code points / words
    monkeypatch.setattr(words, "_powers", np.ones(1, dtype=np.uint64))  # an empty table
    monkeypatch.setattr(words, "_inv_powers", np.ones(1, dtype=np.uint64))
    small_ids, small_starts, small_ends = repeats.tokens(text)
    assert (small_ids == ids).all() and (small_starts == starts).all()
    assert (small_ends == ends).all()
    assert (repeats.shingle_hashes(ids) == shingles).all()
    assert len(words._powers) <= max(1 << 14, 2 * 97)
    found = repeats_within(text)
    assert len(found) >= 2 and all(r.text == text[r.start : r.end] for r in found)


@needs_ptc
def test_seed_pairing_in_python_and_in_numpy_agree(monkeypatch):
    from annotate import repeats
    from annotate.repeats import alignment

    texts = [article(i) for i in (0, 1, 3)] + [read_text_file(SEED)]
    texts.append(texts[0][: len(texts[0]) // 2] + " " + edit_every(texts[1], 6, seed=2))
    ids = [repeats.tokens(t)[0] for t in texts]
    pairs = [(a, a) for a in ids] + [(a, b) for a in ids for b in ids if a is not b]

    def run():
        return [repeats.align(a, b) for a, b in pairs]

    monkeypatch.setattr(alignment, "FEW_SEEDS", 10**9)
    in_python = run()
    monkeypatch.setattr(alignment, "FEW_SEEDS", 0)
    in_numpy = run()
    assert in_python == in_numpy
    assert sum(map(len, in_python)) >= 10


def test_words_compare_case_insensitively_code_point_by_code_point():
    ids = word_ids("ΟΔΟΣ οδος οδοσ İSTANBUL istanbul Zürich ZÜRICH zurich")
    assert ids[0] == ids[1] == ids[2]  # final sigma folded to sigma
    assert ids[3] == ids[4]  # dotted capital I lower-cases to i
    assert ids[5] == ids[6] != ids[7]
    text = "ΟΔΟΣ ΠΡΟΣ ΤΗΝ ΑΘΗΝΑ ΚΑΙ ΤΟΝ ΠΕΙΡΑΙΑ ΚΛΕΙΣΤΟΣ ΣΗΜΕΡΑ"
    found = repeats_within(text + ". Άλλο θέμα εδώ. " + text.lower() + ".")
    assert len(found) == 2 and found[1].text == text.lower()

"""Annotators in a real Chromium against a real Label Studio (markers `browser`, `studio`).

The round trip a team lives by: `annotate push` (with the repeated-passage pre-annotations),
people labelling in the browser with the hotkeys, `annotate pull`. Expected offsets are
computed here in Python from the document text, so an offset off by one, a lost
annotation or a label that is not the contract string fails the test.

Screenshots of the labeling screen go to $ANNOTATE_ARTIFACTS (else a pytest tmp dir).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import browser_helpers as bh
import pytest

MISSING = bh.chromium_missing_reason()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.studio,
    # decided before the (session-wide) server starts
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "seeds" / "000_62e5311f9cbaaa12.txt"
SEED_ID = SEED.stem

# Emoji (non-BMP, a flag = two code points, a ZWJ family = five), precomposed and
# decomposed accents, Hebrew and Arabic names, several lines; the second paragraph comes
# back nearly verbatim so the repeated-passage detector pre-annotates around the emoji too.
UNICODE_TEXT = (
    "Breaking 🔥 news from São Paulo and Jose\u0301's café 👨\u200d👩\u200d👧!\n"
    "\n"
    "Ministers דוד בן-גוריון and محمد الأمين met the 🇺🇸 delegation, and the crowd "
    "called them brutal traitors.\n"
    "\n"
    "The 😀 people of Curaçao will never forget what these shameless cowards did to "
    "their beloved homeland.\n"
    "\n"
    "Après tout, as everyone knows, the 😀 people of Curaçao will never forget what "
    "these shameless cowards did to their beloved homeland!\n"
)


def _config_labels() -> dict[str, dict]:
    """Alias (contract string) -> {value, hotkey, hint} from label_config.xml."""
    root = ET.parse(REPO / "label_config.xml").getroot()
    out = {}
    for tag in root.iter():
        if tag.tag in ("Label", "Choice"):
            value = tag.get("value")
            out[tag.get("alias") or value] = {
                "value": value,
                "hotkey": tag.get("hotkey"),
                "hint": tag.get("hint"),
            }
    return out


LABELS = _config_labels()


def annotate_cli(studio, *args: str, stdin: str | None = None) -> str:
    """Run the real `annotate` command line against the test server."""
    env = {**os.environ, **studio.env}
    done = subprocess.run(
        [sys.executable, "-m", "annotate", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"annotate {' '.join(args)}: {done.stderr or done.stdout}"
    return done.stdout


def pulled_rows(studio, project: str, out: Path) -> dict[str, dict]:
    from annotate.corpus import read_corpus

    annotate_cli(studio, "pull", "--project", project, "--out", str(out))
    return {r["id"]: r for r in read_corpus(out)}


def spans_of(row: dict, annotator: str, label: str | None = None) -> list[tuple]:
    return sorted(
        (s["start"], s["end"], s["text"], s["label"], s["of_start"], s["of_end"])
        for s in row["spans"]
        if s["annotator"] == annotator and (label is None or s["label"] == label)
    )


def frames_of(row: dict, annotator: str) -> set[str]:
    return {
        d["label"]
        for d in row["doc_labels"]
        if d["annotator"] == annotator and d["control"] == "frame"
    }


def expected_repetitions(text: str, doc_id: str) -> list[tuple]:
    """The detector's occurrences as pulled Repetition spans: a later copy points back."""
    from annotate.repeats import repeats_within

    out = set()
    for r in repeats_within(text, doc_id):
        earlier = (r.of_start, r.of_end) < (r.start, r.end)
        of = (r.of_start, r.of_end) if earlier else (-1, -1)
        out.add((r.start, r.end, text[r.start : r.end], "Repetition", *of))
    # one region per occurrence: keep the link when one of the reports of it has one
    best: dict[tuple, tuple] = {}
    for s in sorted(out, key=lambda s: s[4] == -1):
        best.setdefault(s[:2], s)
    return sorted(best.values())


def occurrence(text: str, phrase: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(phrase, start + 1)
    return start, start + len(phrase)


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    reason = bh.chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = bh.launch(p)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    where = os.environ.get("ANNOTATE_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def annotators(studio, chromium) -> dict[str, tuple[str, str]]:
    """Two annotator accounts: one signs up through the invite link in the browser, the
    other is created by `annotate studio add-user --password`."""
    tag = uuid.uuid4().hex[:6]
    ann = (f"ann-{tag}@example.com", "ann-secret-1234")
    bob = (f"bob-{tag}@example.com", "bob-secret-1234")
    invite = studio.api().get("/api/invite")["invite_url"]
    page = chromium.new_page(viewport=bh.VIEWPORT)
    try:
        bh.sign_up(page, studio.url, invite, *ann)
    finally:
        page.close()
    annotate_cli(
        studio,
        "studio",
        "add-user",
        bob[0],
        "--password",
        "--data-dir",
        str(studio.data_dir),
        stdin=bob[1] + "\n",
    )
    return {"ann": ann, "bob": bob}


@pytest.fixture(scope="module")
def seed_project(studio) -> dict:
    """The seed article pushed by `annotate push` into a fresh project."""
    title = studio.new_project("browser-seed")
    annotate_cli(studio, "push", str(SEED), "--project", title)
    api = studio.api()
    project = api.find_project(title)
    tasks = list(api.tasks(project["id"]))
    assert [t["data"]["doc_id"] for t in tasks] == [SEED_ID]
    return {"title": title, "id": project["id"], "task": tasks[0]["id"]}


# ---- tests ----------------------------------------------------------------------------------


def test_annotator_labels_seed_article_with_hotkeys_and_pull_holds_it(
    studio, chromium, annotators, seed_project, artifacts, tmp_path
):
    text = SEED.read_text(encoding="utf-8")
    email, password = annotators["ann"]
    repetitions = expected_repetitions(text, SEED_ID)
    assert repetitions, "the seed article has repeated passages"
    loaded = occurrence(text, "smear campaigns")
    assert not any(s < loaded[1] and loaded[0] < e for s, e, *_ in repetitions)

    page = chromium.new_page(viewport=bh.VIEWPORT)
    try:
        bh.login(page, studio.url, email, password)
        bh.open_label_stream(page, studio.url, seed_project["id"])
        # the guidelines (docs/guidelines.md) pop up before labeling
        shown = bh.instructions_text(page)
        assert "Annotation guidelines" in shown and "Repeated passages" in shown, shown[:300]
        bh.screenshot(page, artifacts / "instructions.png")
        bh.close_instructions(page)
        assert page.get_by_text(SEED_ID).count() >= 1

        # the repeated passages are there, pre-annotated, at the detector's exact offsets
        drawn = bh.regions(page)
        assert sorted((r["start"], r["end"], r["label"]) for r in drawn) == [
            (s, e, LABELS["Repetition"]["value"]) for s, e, *_ in repetitions
        ]
        bh.screenshot(page, artifacts / "labeling-preannotated.png")

        # hovering a technique shows its hint
        hint = LABELS["Loaded_Language"]["hint"]
        page.locator(".lsf-label", has_text=LABELS["Loaded_Language"]["value"]).first.hover()
        page.get_by_text(hint[:40]).first.wait_for(state="visible", timeout=5_000)
        page.mouse.move(5, 500)

        region = bh.label_span(page, text, *loaded, "l", LABELS["Loaded_Language"]["value"])
        assert (region["start"], region["end"]) == loaded
        bh.toggle_frames(
            page, [LABELS["Political"]["hotkey"], LABELS["Security_and_defense"]["hotkey"]]
        )
        assert sorted(bh.checked_frames(page)) == ["Political", "Security_and_defense"]
        bh.screenshot(page, artifacts / "labeling-labelled.png")
        stored = bh.submit(page)
    finally:
        page.close()
    labels_sent = {
        label for r in stored["result"] for label in r.get("value", {}).get("labels", ())
    }
    assert labels_sent == {"Loaded_Language", "Repetition"}  # aliases, not display names

    row = pulled_rows(studio, seed_project["title"], tmp_path / "pulled")[SEED_ID]
    assert row["text"] == text
    assert spans_of(row, email, "Loaded_Language") == [
        (*loaded, "smear campaigns", "Loaded_Language", -1, -1)
    ]
    assert spans_of(row, email, "Repetition") == repetitions
    assert {s["label"] for s in row["spans"] if s["annotator"] == email} == {
        "Loaded_Language",
        "Repetition",
    }
    assert frames_of(row, email) == {"Political", "Security_and_defense"}
    assert "technique" in row["annotated"] and "frame" in row["annotated"]


def test_offsets_exact_with_emoji_accents_and_right_to_left_names(
    studio, chromium, annotators, artifacts, tmp_path
):
    doc = tmp_path / "unicode_mix.txt"
    doc.write_text(UNICODE_TEXT, encoding="utf-8")
    text = doc.read_text(encoding="utf-8")
    title = studio.new_project("browser-unicode")
    annotate_cli(studio, "push", str(doc), "--project", title)
    project = studio.api().find_project(title)
    repetitions = expected_repetitions(text, "unicode_mix")
    assert len(repetitions) == 2, repetitions  # the detector found the near-verbatim copy

    wanted = [  # (phrase, occurrence, contract label)
        ("brutal traitors", 0, "Loaded_Language"),
        ("דוד בן-גוריון", 0, "Name_Calling,Labeling"),
        ("محمد الأمين", 0, "Name_Calling,Labeling"),
        ("Jose\u0301's café", 0, "Doubt"),
        ("🔥 news", 0, "Exaggeration,Minimisation"),
        ("shameless cowards", 1, "Loaded_Language"),
        ("as everyone knows", 0, "Bandwagon,Reductio_ad_hitlerum"),
    ]
    email, password = annotators["ann"]
    page = chromium.new_page(viewport=bh.VIEWPORT)
    try:
        bh.login(page, studio.url, email, password)
        bh.open_label_stream(page, studio.url, project["id"])
        bh.close_instructions(page)
        drawn = sorted((r["start"], r["end"]) for r in bh.regions(page))
        assert drawn == [(s, e) for s, e, *_ in repetitions]
        for phrase, nth, label in wanted:
            start, end = occurrence(text, phrase, nth)
            info = LABELS[label]
            region = bh.label_span(page, text, start, end, info["hotkey"], info["value"])
            assert (region["start"], region["end"]) == (start, end), phrase
        bh.toggle_frames(page, [LABELS["Cultural_identity"]["hotkey"]])
        bh.screenshot(page, artifacts / "labeling-unicode.png")
        bh.submit(page)
    finally:
        page.close()

    row = pulled_rows(studio, title, tmp_path / "pulled")["unicode_mix"]
    assert row["text"] == text
    expected = sorted(
        (*occurrence(text, p, n), text[slice(*occurrence(text, p, n))], label, -1, -1)
        for p, n, label in wanted
    )
    assert sorted(s for s in spans_of(row, email) if s[3] != "Repetition") == expected
    assert spans_of(row, email, "Repetition") == repetitions
    for s in row["spans"]:
        assert text[s["start"] : s["end"]] == s["text"]
    assert frames_of(row, email) == {"Cultural_identity"}


def test_second_annotator_labels_same_task_and_both_come_back(
    studio, chromium, annotators, seed_project, tmp_path
):
    text = SEED.read_text(encoding="utf-8")
    first, _ = annotators["ann"]
    email, password = annotators["bob"]
    doubt = occurrence(text, "fake news fearmongering")
    page = chromium.new_page(viewport=bh.VIEWPORT)
    try:
        bh.login(page, studio.url, email, password)
        bh.open_task(page, studio.url, seed_project["id"], seed_project["task"])
        # the first annotator's work is what opens; start one's own
        assert bh.showing_someone_elses_annotation(page)
        bh.new_annotation(page)
        # this one with a real mouse drag, as a person would select
        region = bh.label_span(page, text, *doubt, "d", LABELS["Doubt"]["value"], drag=True)
        assert (region["start"], region["end"]) == doubt
        bh.toggle_frames(page, [LABELS["Economic"]["hotkey"]])
        bh.submit(page)
    finally:
        page.close()

    rows = pulled_rows(studio, seed_project["title"], tmp_path / "pulled")
    row = rows[SEED_ID]
    annotators_seen = {s["annotator"] for s in row["spans"]} | {
        d["annotator"] for d in row["doc_labels"]
    }
    if first not in annotators_seen:
        pytest.skip("needs the first test's annotation (run the module, not this test alone)")
    assert annotators_seen == {first, email}
    assert spans_of(row, email, "Doubt") == [(*doubt, "fake news fearmongering", "Doubt", -1, -1)]
    assert frames_of(row, email) == {"Economic"}
    # the first annotator's work is untouched
    assert [s[:4] for s in spans_of(row, first, "Loaded_Language")] == [
        (*occurrence(text, "smear campaigns"), "smear campaigns", "Loaded_Language")
    ]
    assert frames_of(row, first) == {"Political", "Security_and_defense"}


def test_every_hotkey_picks_its_label_and_every_hint_shows(studio, chromium, annotators, tmp_path):
    """All 14 technique keys and 14 frame keys of label_config.xml work, none clashes with
    Label Studio's own shortcuts, and hovering shows each definition."""
    doc = tmp_path / "hotkeys.txt"
    doc.write_text("A short text for trying every key.\n", encoding="utf-8")
    title = studio.new_project("browser-keys")
    annotate_cli(studio, "push", str(doc), "--project", title)
    project = studio.api().find_project(title)
    root = ET.parse(REPO / "label_config.xml").getroot()
    techniques = [t for t in root.iter("Label")]
    frames = [t for t in root.iter("Choice")]
    keys = [t.get("hotkey") for t in techniques + frames]
    assert len(techniques) == len(frames) == 14 and len(set(keys)) == 28, keys

    email, password = annotators["ann"]
    page = chromium.new_page(viewport=bh.VIEWPORT)
    try:
        bh.login(page, studio.url, email, password)
        bh.open_label_stream(page, studio.url, project["id"])
        bh.close_instructions(page)
        for tag in techniques:
            page.keyboard.press(tag.get("hotkey"))
            assert bh.active_labels(page) == [tag.get("value")], tag.get("hotkey")
        page.keyboard.press(techniques[-1].get("hotkey"))  # toggles the last one off
        assert bh.active_labels(page) == []
        for tag in frames:
            page.keyboard.press(tag.get("hotkey"))
        assert sorted(bh.checked_frames(page)) == sorted(t.get("value") for t in frames)
        for tag in techniques:
            page.locator(".lsf-label", has_text=tag.get("value")).first.hover()
            page.get_by_text(tag.get("hint")[:30]).first.wait_for(state="visible", timeout=5_000)
        for tag in frames:
            page.locator(".lsf-choices label", has_text=tag.get("value")).first.hover()
            page.get_by_text(tag.get("hint")[:30]).first.wait_for(state="visible", timeout=5_000)
    finally:
        page.close()

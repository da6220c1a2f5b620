"""Driving Label Studio's labeling screen from Playwright, as an annotator would.

Used by tests/test_browser.py and bench/screenshots.py. Everything goes through the real
UI: the login form, the invite-link sign-up form, technique hotkeys, a text selection that
Label Studio sees through the same `mouseup` it gets from a mouse, frame hotkeys, Submit.

Offsets: Label Studio shows each line of the text in its own element (newlines become
`<br>`) and the DOM counts UTF-16 units, while the toolkit counts code points. A span
[start, end) in code points is turned into (line, UTF-16 column) pairs here, so that a
test states what it expects in the toolkit's own terms.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

CHROMIUM = os.environ.get("ANNOTATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}
TEXT_VIEW = ".lsf-richtext__container"
LOAD_TIMEOUT_MS = 90_000
SETTLE_MS = 500

# Select [start, end) given as (line, UTF-16 column) pairs inside the text view, then fire the
# mouseup Label Studio listens to. Returns the selected string (before Label Studio clears it).
_SELECT_JS = """([startLine, startCol, endLine, endCol]) => {
  const lines = document.querySelectorAll('.lsf-richtext__container .lsf-richtext__line');
  const locate = (line, col) => {
    const walker = document.createTreeWalker(lines[line], NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      if (col <= node.data.length) return [node, col];
      col -= node.data.length;
    }
    throw new Error(`column out of range on line ${line}`);
  };
  const [sn, so] = locate(startLine, startCol);
  const [en, eo] = locate(endLine, endCol);
  const range = document.createRange();
  range.setStart(sn, so);
  range.setEnd(en, eo);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
  const selected = sel.toString();
  en.parentElement.dispatchEvent(new MouseEvent('mouseup', {bubbles: true, view: window}));
  return selected;
}"""

# Viewport coordinates of the first and last character of a (line, column) range, for a
# real mouse drag: [x, y] just inside the left edge of the first, right edge of the last.
_ENDS_JS = """([startLine, startCol, endLine, endCol]) => {
  const lines = document.querySelectorAll('.lsf-richtext__container .lsf-richtext__line');
  const locate = (line, col) => {
    const walker = document.createTreeWalker(lines[line], NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      if (col < node.data.length) return [node, col];
      col -= node.data.length;
    }
    throw new Error(`column out of range on line ${line}`);
  };
  const charRect = (line, col, len) => {
    const [n, o] = locate(line, col);
    const r = document.createRange();
    r.setStart(n, o); r.setEnd(n, o + len);
    return r.getBoundingClientRect();
  };
  lines[startLine].scrollIntoView({block: 'center'});
  const a = charRect(startLine, startCol, 1), b = charRect(endLine, endCol - 1, 1);
  return [a.left + 1, a.top + a.height / 2, b.right - 1, b.top + b.height / 2];
}"""

# Regions drawn in the text view: one entry per region, offsets from Label Studio's own
# data-start / data-end attributes (code points), label as shown ("1:Repetition").
_REGIONS_JS = """() => {
  const out = {};
  for (const el of document.querySelectorAll('.lsf-richtext__container .htx-highlight')) {
    const cls = [...el.classList].find(c => c.startsWith('htx-highlight-'));
    const r = out[cls] || (out[cls] = {id: cls, start: null, end: null, label: null});
    if (el.dataset.start !== undefined && r.start === null) r.start = Number(el.dataset.start);
    if (el.dataset.end !== undefined) r.end = Number(el.dataset.end);
    if (el.dataset.label) r.label = el.dataset.label.replace(/^\\d+:/, '');
  }
  return Object.values(out);
}"""


_REGION_COUNT_JS = """n => new Set([...document.querySelectorAll('.lsf-richtext__container .htx-highlight')]
  .map(e => [...e.classList].find(c => c.startsWith('htx-highlight-')))).size > n"""


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found (apt-get install chromium, or set ANNOTATE_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


def launch(playwright):
    """Debian's headless Chromium (a Playwright browser download cannot work offline)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def text_position(text: str, offset: int) -> tuple[int, int]:
    """Code-point offset -> (line number, UTF-16 column) in Label Studio's text view."""
    before = text[:offset]
    line = before.count("\n")
    column = before[before.rfind("\n") + 1 :]
    return line, len(column.encode("utf-16-le")) // 2


def login(page, url: str, email: str, password: str) -> None:
    """Log in through Label Studio's login form."""
    page.goto(f"{url}/user/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/user/login" not in u, timeout=LOAD_TIMEOUT_MS)


def sign_up(page, url: str, invite_path: str, email: str, password: str) -> None:
    """Create an account through the sign-up form of an invite link (`/api/invite`)."""
    page.goto(f"{url}{invite_path}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/user/signup" not in u, timeout=LOAD_TIMEOUT_MS)


SUBMIT_BUTTON = "button[aria-label=submit], button[data-testid=bottombar-submit-button]"


def _wait_for_text_view(page) -> None:
    page.wait_for_selector(TEXT_VIEW, timeout=LOAD_TIMEOUT_MS)
    # the Submit/Update button comes with the loaded annotation; its regions follow
    page.locator(SUBMIT_BUTTON).first.wait_for(state="visible", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_timeout(800)


def open_label_stream(page, url: str, project_id: int) -> None:
    """'Label All Tasks': the next task for this annotator (instructions pop up first)."""
    page.goto(f"{url}/projects/{project_id}/data?labeling=1")
    _wait_for_text_view(page)


def open_task(page, url: str, project_id: int, task_id: int) -> None:
    """One task opened from the data manager's table."""
    page.goto(f"{url}/projects/{project_id}/data?tab=1&task={task_id}")
    _wait_for_text_view(page)
    close_instructions(page)


def instructions_text(page) -> str:
    """The text of the 'Labeling Instructions' pop-up, or '' when it is not shown."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    dialog = page.locator(".lsf-modal-ls__content").filter(has_text="Labeling Instructions")
    try:
        dialog.first.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:
        return ""
    return dialog.first.inner_text()


def close_instructions(page) -> None:
    if page.get_by_text("Labeling Instructions").count():
        page.keyboard.press("Escape")
        page.get_by_text("Labeling Instructions").first.wait_for(state="hidden")


def regions(page) -> list[dict]:
    """Regions drawn in the text: [{"id", "start", "end", "label"}] sorted by start."""
    found = page.evaluate(_REGIONS_JS)
    return sorted(found, key=lambda r: (r["start"] if r["start"] is not None else -1, r["end"]))


def active_labels(page) -> list[str]:
    return page.locator(".lsf-label_selected .lsf-label__text").all_inner_texts()


def select_text(page, text: str, start: int, end: int) -> str:
    """Select text[start:end] in the text view as a mouse drag would; returns the selection."""
    return page.evaluate(_SELECT_JS, [*text_position(text, start), *text_position(text, end)])


def drag_select(page, text: str, start: int, end: int) -> None:
    """Select text[start:end] with a real mouse drag (ASCII ends: one UTF-16 unit each)."""
    x0, y0, x1, y1 = page.evaluate(
        _ENDS_JS, [*text_position(text, start), *text_position(text, end)]
    )
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()


def label_span(
    page, text: str, start: int, end: int, hotkey: str, display_name: str, *, drag: bool = False
) -> dict:
    """Press a technique's hotkey, select text[start:end] (a DOM range and the mouseup Label
    Studio listens to, or with `drag` a real mouse drag); return the region drawn."""
    # a region still selected would take the hotkey as a relabel: callers unselect (`u`) after
    # clicking regions; consecutive label_span calls are kept apart by the SETTLE_MS wait below
    before = {r["id"] for r in regions(page)}
    page.keyboard.press(hotkey)
    active = active_labels(page)
    assert active == [display_name], f"hotkey {hotkey!r} activated {active}, not {display_name!r}"
    if drag:
        drag_select(page, text, start, end)
    else:
        selected = select_text(page, text, start, end)
        assert selected == text[start:end], (selected, text[start:end])
    page.wait_for_function(_REGION_COUNT_JS, arg=len(before), timeout=10_000)
    # Label Studio finishes creating the region after the mouseup handler returns; a hotkey
    # pressed in that window is applied to the next region with the previous label.
    page.wait_for_timeout(SETTLE_MS)
    new = [r for r in regions(page) if r["id"] not in before]
    assert len(new) == 1, f"expected one new region, got {new}"
    assert new[0]["label"] == display_name, f"region drawn as {new[0]['label']!r}"
    return new[0]


def toggle_frames(page, hotkeys: list[str]) -> None:
    for key in hotkeys:
        page.keyboard.press(key)


def checked_frames(page) -> list[str]:
    """Frame choices ticked in the UI (their values)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.lsf-choices input[type=checkbox]')]
          .filter(i => i.checked)
          .map(i => i.closest('label').innerText.replace(/\\[[^\\]]*\\]$/, '').trim())"""
    )


def submit(page) -> dict:
    """Click Submit (or Update) and return the annotation the server stored."""
    # data manager: aria-label "submit" (text Submit or Update); label stream: a test id
    button = page.locator(SUBMIT_BUTTON)
    with page.expect_response(
        lambda r: (
            re.search(r"/api/(tasks/\d+/)?annotations/?", r.url) is not None
            and r.request.method in ("POST", "PATCH")
        )
    ) as response:
        button.first.click()
    assert response.value.ok, f"submit failed: {response.value.status}"
    return response.value.json()


def new_annotation(page) -> None:
    """Start one's own annotation on a task someone else has annotated ('+' button)."""
    page.get_by_role("button", name="Create an annotation").click()
    page.locator(SUBMIT_BUTTON).filter(has_text="Submit").first.wait_for(state="visible")
    page.wait_for_timeout(SETTLE_MS)


def showing_someone_elses_annotation(page) -> bool:
    """Is the open annotation one that this user can only look at (button 'Update')?"""
    return "Update" in page.locator(SUBMIT_BUTTON).first.inner_text()


def screenshot(page, path: str | Path, *, full_page: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path

"""Regenerate docs/img/labeling.png: the labeling screen as an annotator sees it.

Starts a throw-away Label Studio (temporary data dir, free port), pushes the seed article
with `annotate.roundtrip.push_documents` (repeated passages pre-annotated), signs an annotator up
through the invite link, logs in through the form, opens 'Label All Tasks', labels two
phrases with the hotkeys and takes the screenshot; then stops the server.

    .venv/bin/python bench/screenshots.py [--out docs/img/labeling.png]

Prints the timings and writes them to bench/out/screenshots.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import browser_helpers as bh  # noqa: E402

SEED = REPO / "seeds" / "000_62e5311f9cbaaa12.txt"
PROJECT = "Propaganda and framing"
# (phrase, hotkey, display name): two techniques near the top, next to the first repeats
PHRASES = [
    ("political fantasy", "l", "Loaded language"),
    ("held hostage", "e", "Exaggeration / minimisation"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "img" / "labeling.png"))
    args = parser.parse_args()
    if reason := bh.chromium_missing_reason():
        sys.exit(f"cannot take screenshots: {reason}")

    from playwright.sync_api import sync_playwright

    from annotate.roundtrip import push_documents
    from annotate.studio import server
    from annotate.studio.api import connect

    for key in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"):
        os.environ.pop(key, None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="annotate-shots-") as tmp:
        data_dir = Path(tmp) / "studio"
        info = server.start(port=free_port(), data_dir=data_dir, project=PROJECT)
        try:
            timings["server_start_s"] = time.perf_counter() - t0
            creds = server.credentials(data_dir)
            os.environ["LABEL_STUDIO_URL"] = info["url"]
            os.environ["LABEL_STUDIO_API_KEY"] = creds["api_key"]
            print(push_documents([SEED], project=PROJECT))
            api, url = connect()
            project_id = api.find_project(PROJECT)["id"]
            invite = api.get("/api/invite")["invite_url"]
            text = SEED.read_text(encoding="utf-8")

            t1 = time.perf_counter()
            with sync_playwright() as p:
                browser = bh.launch(p)
                page = browser.new_page(viewport=bh.VIEWPORT)
                bh.sign_up(page, url, invite, "annotator@example.com", "annotator-pass-1")
                bh.open_label_stream(page, url, project_id)
                shown = bh.instructions_text(page)
                bh.close_instructions(page)
                preannotated = len(bh.regions(page))
                for phrase, key, name in PHRASES:
                    start = text.index(phrase)
                    bh.label_span(page, text, start, start + len(phrase), key, name)
                page.keyboard.press("u")
                page.mouse.move(700, 5)
                page.wait_for_timeout(bh.SETTLE_MS)
                out = bh.screenshot(page, args.out)
                browser.close()
            timings["browser_s"] = time.perf_counter() - t1
        finally:
            server.stop(data_dir)
    timings["total_s"] = time.perf_counter() - t0
    result = {
        "png": str(out),
        "instructions_shown": bool(shown),
        "preannotated_regions": preannotated,
        "labelled_regions": len(PHRASES),
        **{k: round(v, 1) for k, v in timings.items()},
    }
    (REPO / "bench" / "out").mkdir(parents=True, exist_ok=True)
    (REPO / "bench" / "out" / "screenshots.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    for key, value in result.items():
        print(f"  {key:22s} {value}")


if __name__ == "__main__":
    main()

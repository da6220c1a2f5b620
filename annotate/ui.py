"""What long commands show and write: one progress bar (on a terminal only) and one atomic
JSON writer."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from annotate.atomic import atomic_path


def interactive() -> bool:
    """Whether stderr is a terminal a person watches (not a pipe, a file or CI)."""
    return sys.stderr.isatty() and not os.environ.get("CI")


@contextlib.contextmanager
def progress(
    label: str, total: int | None = None, unit: str = "docs"
) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr while the block runs, showing done/total and the rate;
    yields `advance(n)`. Nothing at all when stderr is not a terminal, or in CI."""
    if not interactive():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{{task.fields[rate]}} {unit}/s"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=total, rate="-")
    started = time.perf_counter()
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        rate = done / max(time.perf_counter() - started, 1e-9)
        bar.update(task, advance=n, rate=f"{rate:,.0f}")

    bar.start()
    try:
        yield advance
    finally:
        bar.stop()


def write_json(path: str | Path, data: Any, *, indent: int = 2) -> None:
    """`data` as JSON (UTF-8, a final newline) at `path`, which appears only when complete."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")

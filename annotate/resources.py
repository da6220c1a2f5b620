"""Files the toolkit ships: the label config, the model configurations and the guidelines.

Their single source is the repository root (`label_config.xml`, `models/*.toml`,
`docs/guidelines.md`). A wheel carries copies, made at build time by `setup.py`, in
`annotate/_data/`; a source checkout (an editable install, or `PYTHONPATH`) reads the
repository's files themselves, so an edit there takes effect at once.

Lookup order:

- label config: `$ANNOTATE_LABEL_CONFIG`, else `./label_config.xml` in the working
  directory, else the shipped one;
- model config (`annotate train --config`): the path given when it exists, else the
  shipped configuration of that file name (`models/default.toml` by default);
- guidelines: `./docs/guidelines.md` in the working directory, else the shipped one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from importlib import resources
from pathlib import Path

LABEL_CONFIG = "label_config.xml"
MODELS = "models"
DEFAULT_MODEL_CONFIG = "default.toml"
GUIDELINES = "docs/guidelines.md"
PACKAGE_DATA = "_data"  # inside the installed package; written by setup.py, never committed

_SOURCE_ROOT = Path(__file__).resolve().parent.parent
_extracted = contextlib.ExitStack()  # resources unpacked from a zip import, removed at exit
atexit.register(_extracted.close)


def in_source_tree() -> bool:
    """True when `annotate` is imported from a checkout of the repository."""
    return (_SOURCE_ROOT / "pyproject.toml").is_file() and (_SOURCE_ROOT / LABEL_CONFIG).is_file()


def shipped_path(relative: str) -> Path:
    """The shipped file at `relative` (a repository-root path such as `models/default.toml`).

    The repository's own file in a source checkout, else the copy inside the package.
    The path may not exist (a broken install); callers report that as bad input.
    """
    if in_source_tree():
        return _SOURCE_ROOT / relative
    packaged = resources.files("annotate").joinpath(PACKAGE_DATA, *relative.split("/"))
    if isinstance(packaged, Path):
        return packaged
    return _extracted.enter_context(resources.as_file(packaged))  # e.g. a zipped package


def label_config_path() -> Path:
    """The label config in force: `$ANNOTATE_LABEL_CONFIG`, `./label_config.xml`, shipped."""
    env = os.environ.get("ANNOTATE_LABEL_CONFIG")
    if env:
        return Path(env)
    here = Path(LABEL_CONFIG)
    return here if here.is_file() else shipped_path(LABEL_CONFIG)


def default_model_config() -> Path:
    """The shipped `models/default.toml`; its folder holds the other shipped configs."""
    return shipped_path(f"{MODELS}/{DEFAULT_MODEL_CONFIG}")


def guidelines_path() -> Path | None:
    """`./docs/guidelines.md` when the working directory has one, else the shipped copy."""
    for path in (Path(GUIDELINES), shipped_path(GUIDELINES)):
        if path.is_file():
            return path
    return None


def guidelines_text() -> str | None:
    """The annotator guidelines (Markdown), or None when there are none."""
    path = guidelines_path()
    return path.read_text(encoding="utf-8") if path else None

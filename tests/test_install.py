"""Installability (issue #20): the shipped files are found in a checkout and in a wheel.

The slow test builds the wheel, installs it (not editable) into a fresh virtual
environment and runs import, train, evaluate and score from a folder outside the repository.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from learn_helpers import DATA, FAST_CONFIG

from annotate import resources
from annotate.learn import train
from annotate.schema import load_schema
from annotate.studio import project

REPO = Path(__file__).resolve().parent.parent
PTC = DATA / "ptc"


def test_a_checkout_reads_the_repository_files(tmp_path, monkeypatch):
    monkeypatch.delenv("ANNOTATE_LABEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no label_config.xml or docs/ here
    assert resources.in_source_tree()
    assert resources.label_config_path() == REPO / "label_config.xml"
    assert resources.default_model_config() == REPO / "models" / "default.toml"
    assert train.DEFAULT_CONFIG == REPO / "models" / "default.toml"
    assert resources.guidelines_path() == REPO / "docs" / "guidelines.md"
    assert train.load_config(Path("models/default.toml")) == tomllib.loads(
        (REPO / "models" / "default.toml").read_text(encoding="utf-8")
    )


def test_label_config_precedence(tmp_path, monkeypatch):
    """$ANNOTATE_LABEL_CONFIG, then ./label_config.xml, then the shipped one."""
    monkeypatch.delenv("ANNOTATE_LABEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_schema().path == str(REPO / "label_config.xml")
    here = tmp_path / "label_config.xml"
    here.write_text((REPO / "label_config.xml").read_text(encoding="utf-8"), encoding="utf-8")
    assert resources.label_config_path() == Path("label_config.xml")
    env = tmp_path / "other.xml"
    env.write_text(here.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("ANNOTATE_LABEL_CONFIG", str(env))
    assert resources.label_config_path() == env and load_schema().path == str(env)


def test_guidelines_from_the_working_directory_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "Annotation guidelines" in project.guidelines_html()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guidelines.md").write_text("# Ours\n\nLocal rules.\n")
    assert resources.guidelines_path() == Path("docs/guidelines.md")
    assert "<h2>Ours</h2>" in (project.guidelines_html() or "")


def test_every_shipped_file_is_in_the_sdist_manifest():
    """setup.py copies these into the wheel; MANIFEST.in must carry them into the sdist."""
    patterns = [
        line.split()[1]
        for line in (REPO / "MANIFEST.in").read_text().splitlines()
        if line.startswith("include ")
    ]
    shipped = ["label_config.xml", "docs/guidelines.md"] + [
        f"models/{p.name}" for p in (REPO / "models").glob("*.toml")
    ]
    for rel in shipped:
        assert any(fnmatch.fnmatch(rel, pat) for pat in patterns), rel


# ---- the wheel ----------------------------------------------------------------------------

IGNORE_TOP = {".git", ".venv", ".venv-studio", ".studio", "build", "dist", "bench", "tests"}


def _copy_project(dest: Path) -> Path:
    """The project's sources without virtual environments, build output or trained models."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        skip = {n for n in names if n in ("__pycache__",) or n.endswith(".egg-info")}
        if here == REPO:
            skip |= {n for n in names if n in IGNORE_TOP or n.startswith(".")}
        if here == REPO / "models":
            skip |= {n for n in names if (here / n).is_dir()}
        return skip

    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


def _build_wheel(src: Path, out: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("annotate-*.whl")
    return wheel


def _venv_with_wheel(venv: Path, wheel: Path) -> Path:
    """A fresh venv with only the wheel installed; the test venv's packages are its
    dependencies (a .pth file, written after the install so pip never sees them)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    done = subprocess.run(
        install + ["--no-deps", "--no-index", str(wheel)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # plain paths only: the test venv's own .pth files (its editable annotate) stay unread
    Path(site, "_annotate_test_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    return venv / "bin"


@pytest.mark.slow
def test_wheel_works_outside_the_repository(tmp_path):
    wheel = _build_wheel(_copy_project(tmp_path / "src"), tmp_path / "wheelhouse")
    bin_dir = _venv_with_wheel(tmp_path / "venv", wheel)

    work = tmp_path / "elsewhere"
    (work / "articles").mkdir(parents=True)
    (work / "labels").mkdir()
    for article in sorted((PTC / "train-articles").glob("article*.txt"))[:8]:
        shutil.copy(article, work / "articles")
        labels = PTC / "train-labels-task-tc" / f"{article.stem}.task2-TC.labels"
        shutil.copy(labels, work / "labels")
    (work / "fast.toml").write_text(FAST_CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ANNOTATE_LABEL_CONFIG")}

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{args}: {done.stdout[-1500:]}\n{done.stderr[-3000:]}"
        return done.stdout

    probe = run(
        str(bin_dir / "python"),
        "-c",
        "import annotate, annotate.resources as r, annotate.learn.train as t, "
        "annotate.studio.project as s; "
        "print(annotate.__file__, r.label_config_path(), t.DEFAULT_CONFIG, r.guidelines_path(), "
        "t.load_config('models/default.toml') == __import__('tomllib').loads("
        "t.DEFAULT_CONFIG.read_text()), bool(s.guidelines_html()), sep='\\n')",
    ).split("\n")
    package = (tmp_path / "venv").resolve()
    assert Path(probe[0]).resolve().is_relative_to(package), probe[0]  # the wheel, not the repo
    for shipped in probe[1:4]:
        assert Path(shipped).resolve().is_relative_to(package) and "_data" in shipped, probe
        assert Path(shipped).is_file()
    assert probe[4:6] == ["True", "True"], probe

    annotate = str(bin_dir / "annotate")
    assert "8 documents" in run(annotate, "import", "ptc", "articles", "labels", "--out", "ptc")
    assert (work / "ptc" / "corpus.json").is_file() and (work / "ptc" / "state.json").is_file()
    run(annotate, "train", "ptc", "--out", "model", "--config", "fast.toml")
    assert (work / "model" / "model.json").is_file()
    run(annotate, "evaluate", "model", "ptc", "--json", "eval.json")
    figures = json.loads((work / "eval.json").read_text())
    assert figures["documents"] == 8 and figures["spans"]["si"]["f1"] > 0
    run(annotate, "score", "articles", "--model", "model", "--out", "scores.jsonl")
    records = [json.loads(line) for line in (work / "scores.jsonl").open()]
    assert len(records) == 8 and all(0 <= r["propaganda"] <= 1 for r in records)

"""Model files are loaded safely: explicit trusted types, sha256 checks, same label config."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import skops.io as sio
from learn_helpers import REPO, fast_config, small_corpora

from annotate.errors import BadInput
from annotate.learn.model import Model, file_sha256
from annotate.learn.train import train


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("model-files")
    ptc, sem = small_corpora(root, n=10)
    out = root / "model"
    train([ptc, sem], out, config=fast_config(root))
    return out


@pytest.fixture
def copy(model_dir, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    return target


def _rehash(model: os.PathLike, name: str) -> None:
    """Make model.json agree with a replaced file, so only the type check can refuse it."""
    info_path = model / "model.json"
    info = json.loads(info_path.read_text())
    info["files"][name] = file_sha256(model / name)
    info_path.write_text(json.dumps(info))


def test_untouched_model_loads(model_dir):
    assert Model.load(model_dir).predict(["Some words here."])


def test_no_pickle_anywhere(model_dir):
    for f in model_dir.iterdir():
        assert f.suffix in {".skops", ".npy", ".json", ".md"}, f  # .npy: allow_pickle=False


def test_tampered_file_is_refused(copy):
    with open(copy / "tagger.skops", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BadInput, match="tagger.skops does not match the sha256"):
        Model.load(copy)


def test_file_that_would_run_code_is_refused(copy, tmp_path):
    # A skops file naming os.system: loading it with blanket trust would hand back a callable
    # ready to run shell commands. It must be refused even though model.json vouches for it.
    marker = tmp_path / "pwned"
    sio.dump({"run": os.system, "arg": f"touch {marker}"}, copy / "propaganda.skops")
    assert any("system" in t for t in sio.get_untrusted_types(file=copy / "propaganda.skops"))
    _rehash(copy, "propaganda.skops")
    with pytest.raises(BadInput, match="does not trust.*system"):
        Model.load(copy)
    assert not marker.exists()


def test_unknown_estimator_class_is_refused(copy):
    from sklearn.ensemble import RandomForestClassifier

    sio.dump(RandomForestClassifier(n_estimators=1), copy / "frames.skops")
    _rehash(copy, "frames.skops")
    # skops trusts scikit-learn classes by default; the component must still be ours
    with pytest.raises(BadInput, match="holds a RandomForestClassifier, expected FrameClassifier"):
        Model.load(copy)


def test_missing_file_is_refused(copy):
    (copy / "technique.skops").unlink()
    with pytest.raises(BadInput, match="technique.skops listed in model.json is missing"):
        Model.load(copy)


def test_not_a_model_directory(tmp_path):
    with pytest.raises(BadInput, match="no model.json"):
        Model.load(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(BadInput, match="not valid JSON"):
        Model.load(tmp_path)


def test_other_label_config_is_refused(model_dir, tmp_path, monkeypatch):
    xml = (REPO / "label_config.xml").read_text(encoding="utf-8")
    other = tmp_path / "label_config.xml"
    other.write_text(xml.replace('value="Economic"', 'value="Economics"'), encoding="utf-8")
    assert other.read_text() != xml
    monkeypatch.setenv("ANNOTATE_LABEL_CONFIG", str(other))
    with pytest.raises(BadInput, match="trained for another label config"):
        Model.load(model_dir)


def test_pickling_leaves_the_model_whole(model_dir):
    """Pickling (what a Dask broadcast does, once per worker) must not change the live model:
    the TF-IDF vectorizers once dropped their vocabulary from the object being pickled."""
    import pickle

    model = Model.load(model_dir)
    text = "The corrupt, lying elites want war. War is their business."
    before = model.predict([text])
    copies = [pickle.loads(pickle.dumps(model)) for _ in range(2)]
    assert model.predict([text]) == before
    for copy in copies:
        assert copy.predict([text]) == before

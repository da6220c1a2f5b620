"""Training and the trained model bundle (`annotate.learn.model.Model`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_model(model: str | Path | Any | None) -> Any:
    """A model ready to predict: None stays None, an object with `predict` is used as it is,
    a path is opened with `Model.load` (scikit-learn is imported only then)."""
    if model is None or hasattr(model, "predict"):
        return model
    from annotate.learn.model import Model

    return Model.load(model)

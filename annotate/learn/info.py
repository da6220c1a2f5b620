"""`model.json`, read without loading the model (for callers that must answer fast)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from annotate.errors import BadInput

MODEL_JSON = "model.json"


def read_model_info(model_dir: str | Path) -> dict[str, Any]:
    """The `model.json` of a model directory as a dict (BadInput if it is not one)."""
    path = Path(model_dir) / MODEL_JSON
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput("not a model directory (no model.json)", model_dir) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"model.json is not valid JSON ({exc})", path) from None
    if not isinstance(info, dict):
        raise BadInput("model.json is not a JSON object", path)
    return info

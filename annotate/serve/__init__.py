"""The model as a Label Studio ML backend (`annotate serve`).

- `predict`: Label Studio tasks -> documents -> score records -> predictions (the same
  scoring and converters as `annotate push --model`), and interactive suggestions.
- `retrain`: the background trainer (pull the project, train in a subprocess, swap).
- `app`: the web app (Starlette on uvicorn) that Label Studio calls.
"""
